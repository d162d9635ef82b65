"""Soak test of ``deeprecs serve``: a steady mix of requests for 10 minutes, memory sampled each second.

    python benchmarks/serving/bench_soak.py --run runs/ml1m [--minutes 10 --rate 400 --workers 2]
    python benchmarks/serving/bench_soak.py --quick     # 20 s (CI)

The server (2 workers, store path: RUN exported to a fresh SQLite file) gets, at a fixed
--rate (requests/s in all, from 16 connections, loadgen.py's schedule), a mix of every route:
70% a user's top-10 from the store, 10% a user's top-200 (more than the export holds: scored
live), 10% similar items, 10% fold-in recommendations for 3 liked items. After a warm-up
(the store answers' cache fills), the resident memory of the server's processes is read every
second. RSS growth = median of the last minute over the median of the first minute (quick:
5 s windows). Writes results/soak.{json,md,png} (soak-quick.* with --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import OUT, ensure_run, write_results
from loadgen import run_load
from server import ROOT, rss_mb, start_server, stop_server

TARGET_GROWTH = 0.05


def request_mix(users: list, items: list, n: int = 20000, seed: int = 0) -> list:
    """``n`` requests in the soak's proportions (see the module doc), drawn with ``seed``."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = rng.random()
        if x < 0.7:
            out.append(f"/users/{rng.choice(users)}/recommendations?k=10")
        elif x < 0.8:
            out.append(f"/users/{rng.choice(users)}/recommendations?k=200")
        elif x < 0.9:
            out.append(f"/items/{rng.choice(items)}/similar?k=10")
        else:
            out.append(("POST", "/recommendations", {"liked": rng.sample(items, 3), "k": 10}))
    return out


def windows(record, seconds: float, width: float = 10.0) -> list[dict]:
    """Per ``width`` seconds of the run: requests/s, p50 and p99 latency (ms), errors."""
    done, lat, ok = (np.asarray(x) for x in (record.done, record.latency, record.ok))
    out = []
    for start in np.arange(int(seconds // width)) * width:  # whole windows only
        sel = (done >= start) & (done < start + width)
        ms = lat[sel] * 1000
        out.append({"t": float(start), "rps": float(sel.sum() / width), "errors": int((~ok[sel]).sum()),
                    "p50_ms": float(np.percentile(ms, 50)) if len(ms) else None,
                    "p99_ms": float(np.percentile(ms, 99)) if len(ms) else None})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=None, help="run directory (default runs/ml1m; runs/ml1m-quick with --quick)")
    ap.add_argument("--minutes", type=float, default=None, help="measured minutes (default 10; 1/3 with --quick)")
    ap.add_argument("--rate", type=float, default=None, help="requests/s in all (default 400; 200 with --quick)")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=None, help="seconds before measuring (default 30; 5 with --quick)")
    ap.add_argument("--quick", action="store_true", help="CI smoke run: 20 s at 200 req/s, a 1-epoch model")
    args = ap.parse_args()
    run_dir = args.run or str(ROOT / ("runs/ml1m-quick" if args.quick else "runs/ml1m"))
    seconds = 60 * (args.minutes or (1 / 3 if args.quick else 10))
    rate = args.rate or (200.0 if args.quick else 400.0)
    warmup = args.warmup if args.warmup is not None else (5.0 if args.quick else 30.0)
    window = 5.0 if args.quick else 60.0

    from deeprecs.runs import load_run
    from deeprecs.store import export_run

    run = load_run(ensure_run(run_dir, epochs=1 if args.quick else 3))
    users = [str(u) for u in run.user_map.raw.tolist()]
    items = [x.item() if hasattr(x, "item") else x for x in run.item_map.raw.tolist()]
    db = f"sqlite:///{tempfile.mkdtemp()}/recs.db"
    export_run(run, db, k=100, progress=False)
    proc, base = start_server(run_dir, db, args.workers)
    samples: list[tuple[float, float]] = []
    try:
        result = asyncio.run(run_load(base, request_mix(users, items), args.connections, seconds, warmup=warmup,
                                      rate=rate, every_second=lambda t: samples.append((t, rss_mb(proc.pid)))))
    finally:
        stop_server(proc)
    record = result.pop("record")
    t, rss = (np.array(x) for x in zip(*samples))
    first, last = float(np.median(rss[t < window])), float(np.median(rss[t >= t[-1] - window]))
    growth = last / first - 1
    slope = float(np.polyfit(t / 60, rss, 1)[0]) if len(t) > 2 else 0.0
    per_window = windows(record, result["seconds"], 10.0 if not args.quick else 2.0)
    summary = {**result, "rate_target": rate, "workers": args.workers, "rss_first_mb": first, "rss_last_mb": last,
               "rss_max_mb": float(rss.max()), "rss_growth": growth, "rss_slope_mb_per_min": slope,
               "p99_ms_worst_window": max(w["p99_ms"] for w in per_window if w["p99_ms"] is not None)}
    met = summary["errors"] == 0 and growth <= TARGET_GROWTH
    name = "soak-quick" if args.quick else "soak"
    _plot(t, rss, per_window, OUT / f"{name}.png", seconds)
    md = [f"# Soak: {seconds / 60:.3g} min at {rate:,.0f} requests/s, {Path(run_dir).name}, {args.workers} uvicorn workers, "
          "store path + live routes", "",
          "Mix: 70% user top-10 (store), 10% user top-200 (live), 10% similar items, 10% fold-in of 3 liked items; "
          f"{args.connections} connections on a fixed schedule (latency counted from when each request was due), "
          f"after a {warmup:.0f} s warm-up. RSS: all server processes (supervisor + workers), every second.", "",
          "| requests | errors | req/s | p50 ms | p99 ms | worst 10 s p99 ms | RSS first min MB | RSS last min MB | growth | slope MB/min | max MB |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
          f"| {summary['requests']:,} | {summary['errors']} | {summary['rps']:,.0f} | {summary['p50_ms']:.2f} | "
          f"{summary['p99_ms']:.2f} | {summary['p99_ms_worst_window']:.2f} | {first:,.1f} | {last:,.1f} | {growth:+.2%} | "
          f"{slope:+.2f} | {summary['rss_max_mb']:,.1f} |", "",
          f"Targets: 0 errors, RSS growth <= {TARGET_GROWTH:.0%}: {'met' if met else 'NOT met'}."
          + (" (Quick mode: a 20-second smoke run with 5 s windows, not the target's measurement.)" if args.quick else ""),
          "", f"![RSS and latency over the soak]({name}.png)", ""]
    write_results(name, {"run": run_dir, "seconds": seconds, "summary": summary, "windows": per_window,
                         "rss": [[round(a, 2), round(b, 2)] for a, b in samples]}, "\n".join(md))


def _plot(t, rss, per_window: list[dict], out: Path, seconds: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    top.plot(t / 60, rss, lw=1)
    top.set_ylabel("server RSS (MB)")
    top.set_ylim(0, max(rss) * 1.15)
    top.set_title(f"Soak: {seconds / 60:.3g} min, memory each second, latency per window")
    wt = [w["t"] / 60 for w in per_window if w["p50_ms"] is not None]
    for key, style in (("p50_ms", "-"), ("p99_ms", "--")):
        bottom.plot(wt, [w[key] for w in per_window if w["p50_ms"] is not None], style, label=key.replace("_ms", ""))
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("minutes")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
