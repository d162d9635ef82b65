"""HTTP load test of ``deeprecs serve``: GET /users/{id}/recommendations?k=10 on 127.0.0.1.

    python benchmarks/serving/bench_http.py --run runs/ml1m [--duration 30 --workers 2 --repeats 3 --tool auto]
    python benchmarks/serving/bench_http.py --quick     # 5 s per path, once (CI)

Starts the server (store path: exports RUN to a SQLite file first; live path: no store),
loads it with 32 connections for --duration seconds (wrk when installed, see scripts/wrk.sh,
else the in-repo httpx generator, loadgen.py) on random users, --repeats times per path (each
with a fresh server), and reports errors, requests/s, p50/p99 of every repeat and their
medians. Writes results/http.{json,md,png} (http-quick.* with --quick).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from common import OUT, ensure_run, write_results
from loadgen import MAX_SECONDS, run_load
from server import ROOT, start_server, stop_server

PERCENTILES = (50, 75, 90, 99, 99.9)
WRK_LUA = """
local ids = {%s}
math.randomseed(%d)
request = function()
  return wrk.format("GET", "/users/" .. ids[math.random(#ids)] .. "/recommendations?k=10")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "errors": %%d, "non_2xx": %%d, "p50_ms": %%f, "p75_ms": %%f, "p90_ms": %%f, "p99_ms": %%f, "p99.9_ms": %%f}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(75) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
"""
#: the issue's targets for the store path (2 workers, 32 connections, 30 s)
TARGET_RPS, TARGET_P99_MS = 4000, 10.0


def load_wrk(base: str, users: list[str], connections: int, seconds: float, threads: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % (",".join(json.dumps(u) for u in users), 0))
    try:
        subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", "2s", "-s", f.name, base], capture_output=True)
        out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                              "-s", f.name, base], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    return {"tool": "wrk", "threads": threads, "connections": connections, **result, "rps": result["requests"] / result["seconds"]}


def load_httpx(base: str, users: list[str], connections: int, seconds: float) -> dict:
    rng = random.Random(0)
    paths = [f"/users/{rng.choice(users)}/recommendations?k=10" for _ in range(20000)]
    result = asyncio.run(run_load(base, paths, connections, seconds))
    result.pop("record")
    return result


def median_of(runs: list[dict]) -> dict:
    keys = ["rps", "errors", *(f"p{p:g}_ms" for p in PERCENTILES)]
    return {k: statistics.median(r[k] for r in runs) for k in keys if all(k in r for r in runs)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=None, help="run directory (default runs/ml1m; runs/ml1m-quick with --quick)")
    ap.add_argument("--db", default=None, help="store URL (default: a fresh SQLite file with an export of RUN)")
    ap.add_argument("--duration", type=float, default=None, help=f"seconds per repeat (default 30, 5 with --quick; at most {MAX_SECONDS})")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=None, help="fresh server and load run per path (default 3, 1 with --quick)")
    ap.add_argument("--paths", default="store,live")
    ap.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1 leaves the other core to the server)")
    ap.add_argument("--quick", action="store_true", help="CI smoke run: 5 s per path, once, a 1-epoch model")
    args = ap.parse_args()
    run_dir = args.run or str(ROOT / ("runs/ml1m-quick" if args.quick else "runs/ml1m"))
    duration = min(args.duration or (5.0 if args.quick else 30.0), MAX_SECONDS)
    repeats = args.repeats or (1 if args.quick else 3)
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")

    from deeprecs.runs import load_run
    from deeprecs.store import export_run

    run = load_run(ensure_run(run_dir, epochs=1 if args.quick else 3))
    users = [str(u) for u in run.user_map.raw.tolist()]
    db = args.db
    if db is None and "store" in args.paths:
        db = f"sqlite:///{tempfile.mkdtemp()}/recs.db"
        export_run(run, db, k=100, progress=False)
    results = {}
    for path in args.paths.split(","):
        runs = []
        for _ in range(repeats):
            proc, base = start_server(run_dir, db if path == "store" else None, args.workers)
            try:
                source = httpx.get(f"{base}/users/{users[0]}/recommendations?k=10").json()["source"]
                if tool == "wrk":
                    res = load_wrk(base, users, args.connections, duration, threads=args.wrk_threads)
                else:
                    res = load_httpx(base, users, args.connections, duration)
            finally:
                stop_server(proc)
            runs.append(res)
            print(path, res, flush=True)
        results[path] = {"source": source, "workers": args.workers, "connections": args.connections, "tool": tool,
                         "median": median_of(runs), "runs": runs}

    md = [f"# HTTP load test: GET /users/{{id}}/recommendations?k=10, {Path(run_dir).name} "
          f"({len(users):,} users), {args.connections} connections, {duration:.0f} s x {repeats}, "
          f"{args.workers} uvicorn worker(s), {tool}", "",
          "| path | errors | requests/s | p50 ms | p90 ms | p99 ms | p99.9 ms | each run: req/s, p99 ms |",
          "|---|---:|---:|---:|---:|---:|---:|---|"]
    for p, r in results.items():
        m = r["median"]
        each = "; ".join(f"{x['rps']:,.0f}, {x['p99_ms']:.1f}" for x in r["runs"])
        md.append(f"| {p} ({r['source']}) | {m['errors']:.0f} | {m['rps']:,.0f} | {m['p50_ms']:.2f} | {m['p90_ms']:.2f} | "
                  f"{m['p99_ms']:.2f} | {m['p99.9_ms']:.2f} | {each} |")
    md += ["", f"Medians of {repeats} run(s), each against a fresh server. Targets (store path): 0 errors, "
           f">= {TARGET_RPS:,} requests/s, p99 <= {TARGET_P99_MS:g} ms. The load generator shares the machine's 2 cores.", ""]
    if "store" in results:
        m = results["store"]["median"]
        met = m["errors"] == 0 and m["rps"] >= TARGET_RPS and m["p99_ms"] <= TARGET_P99_MS
        md += [f"Store path: {'met' if met else 'NOT met'} ({m['errors']:.0f} errors, {m['rps']:,.0f} req/s, p99 {m['p99_ms']:.2f} ms)."
               + ("" if not args.quick else " (Quick mode: a 5-second smoke run, not the target's measurement.)"), ""]
    name = "http-quick" if args.quick else "http"
    _plot(results, OUT / f"{name}.png")
    md += [f"![latency percentiles]({name}.png)", ""]
    write_results(name, {"run": run_dir, "duration": duration, "repeats": repeats, "tool": tool, "results": results},
                  "\n".join(md))


def _plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for path, r in results.items():
        qs = [p for p in PERCENTILES if f"p{p:g}_ms" in r["median"]]
        ax.plot([str(q) for q in qs], [r["median"][f"p{q:g}_ms"] for q in qs], "o-",
                label=f"{path}: {r['median']['rps']:,.0f} req/s")
    ax.axhline(TARGET_P99_MS, color="grey", ls="--", lw=0.8, label=f"p99 target {TARGET_P99_MS:g} ms")
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.set_title("GET /users/{id}/recommendations, 32 connections (medians)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
