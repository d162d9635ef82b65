"""Distributed training throughput: MF (BPR) on 2 processes of 1 thread each against 1 process of 1
thread, on the same synthetic log, through the command line (``deeprecs train ... --nproc 2``).

Both runs: ``--data synthetic:N`` (MovieLens-like, :mod:`deeprecs.data.synthetic`), leave-one-out
(``--split loo --no-refit``), BPR-MF with 64 factors, lazy Adam on the tables (sparse gradients,
all-reduced as such by DDP on gloo), batches of 8,192 (each of 2 ranks: 4,096), ``--epochs``
epochs, every thread count 1. ``examples_per_s``: positives per second of the training loop
(the mean over epochs; each positive comes with its 4 sampled negatives), all ranks together;
``hr@10`` / ``ndcg@10``: full ranking of each user's held-out item (``deeprecs evaluate``'s).

    python benchmarks/distributed.py [--quick] [--size 1e7] [--epochs 2]

Writes ``benchmarks/results/distributed.{json,md}`` (``distributed-quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, log, machine, markdown_table, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(size: int, nproc: int, epochs: int, seed: int, out: Path, sync_every: int = 1) -> dict:
    """One ``deeprecs train`` run; its metrics and throughput. ``sync_every`` > 1: local SGD."""
    cmd = [sys.executable, "-m", "deeprecs", "-q", "train", "bpr-mf", "--data", f"synthetic:{size},seed={seed}", "--split", "loo",
           "--no-refit", "--epochs", str(epochs), "--patience", "0", "--factors", "64", "--optimizer", "sparse-adam",
           "--batch-size", "8192", "--threads", "1", "--seed", str(seed), "--out", str(out), "--json", "--nproc", str(nproc)]
    if nproc > 1:
        cmd += ["--sync-every", str(sync_every)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    log(f"[distributed] {nproc} process(es): {' '.join(cmd[3:])}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"processes": nproc, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"status {proc.returncode}"}
    metrics = json.loads(proc.stdout)
    history = json.loads((out / "history.json").read_text())
    rates = [e["examples_per_s"] for e in history["epochs"]]
    cpu = [e.get("cpu_seconds") for e in history["epochs"]]
    examples = sum(r * e["seconds"] for r, e in zip(rates, history["epochs"]))
    cpu_us = 1e6 * sum(cpu) / examples if None not in cpu and examples else None
    return {"processes": nproc, "sync_every": sync_every if nproc > 1 else None, "threads_each": 1, "epochs": len(rates), "examples_per_s": sum(rates) / len(rates), "cpu_us_per_example": cpu_us,
            "epoch_seconds": sum(e["seconds"] for e in history["epochs"]) / len(rates), "hr@10": metrics.get("hr@10"),
            "ndcg@10": metrics.get("ndcg@10"), "wall_seconds": wall}


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10^5 interactions, 1 epoch (CI smoke test)")
    ap.add_argument("--size", type=float, default=1e7)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sync-every", default="1,16", help="the 2-process rows: comma list of --sync-every (1: DDP; K > 1: local SGD)")
    ap.add_argument("--threads", type=int, default=1, help="accepted for run_all; every process has 1 thread")
    args = ap.parse_args(argv)
    size, epochs = (100_000, 1) if args.quick else (int(args.size), args.epochs)
    runs = [(1, 1)] + [(2, int(k)) for k in args.sync_every.split(",")]
    rows, loads = [], []
    with tempfile.TemporaryDirectory(prefix="deeprecs-ddp-") as tmp:
        for nproc, every in runs:
            loads.append(load_average())
            rows.append({"interactions": size, **run(size, nproc, epochs, args.seed, Path(tmp) / f"run{nproc}-{every}", every),
                         "load_before": loads[-1], "load_after": load_average()})
    ok = all("error" not in r for r in rows)
    summary = {"two": []}
    if ok:
        one = rows[0]
        for r in rows[1:]:
            got = {"sync_every": r["sync_every"], "speedup": r["examples_per_s"] / one["examples_per_s"], "hr@10_difference": r["hr@10"] - one["hr@10"]}
            if one.get("cpu_us_per_example") and r.get("cpu_us_per_example"):
                got["speedup_from_cpu_time"] = 2 * one["cpu_us_per_example"] / r["cpu_us_per_example"]
            summary["two"].append(got)
    name = "distributed-quick" if args.quick else "distributed"
    info = machine()
    md = [f"# Distributed training: 2 processes x 1 thread vs 1 x 1{' (quick)' if args.quick else ''}", "",
          f"BPR-MF (64 factors, sparse Adam, batches of 8,192) on `synthetic:{size}` (leave-one-out, no refit), {epochs} epoch(s), "
          "through `deeprecs train ... --nproc N` (torch.distributed.run on gloo): `sync_every` 1 is DDP (the gradients "
          "all-reduced at every step, each rank updating its share of the touched rows); K > 1 is local SGD (each rank steps "
          "on its own shard, and every K steps every rank's change is applied on every rank: one dense all-reduce).", "",
          markdown_table(rows, ["processes", "sync_every", "threads_each", "interactions", "epochs", "examples_per_s", "epoch_seconds",
                                "cpu_us_per_example", "hr@10", "ndcg@10", "wall_seconds", "load_before", "load_after"]), ""]
    for got in summary["two"]:
        how = "DDP" if got["sync_every"] == 1 else f"local SGD, --sync-every {got['sync_every']}"
        line = (f"2 processes ({how}): speed-up in examples/s **{got['speedup']:.2f}x** (target >= 1.6x); HR@10 difference "
                f"{got['hr@10_difference']:+.4f} (target within 0.01)")
        if "speedup_from_cpu_time" in got:
            line += f"; from processor time {got['speedup_from_cpu_time']:.2f}x"
        md += [line + ".", ""]
    md += ["`cpu_us_per_example`: the training loop's processor time (all ranks) per positive. On a machine shared with other jobs "
           "the wall-clock ratio measures the scheduler's share as much as the code (two processes get two shares); two idle cores, "
           "each rank on its own and none waiting, would give 2 x (1 process's) / (2 processes') (gloo does not spin while a rank "
           "waits, so waiting is not counted; a starved machine's cache misses are).", ""]
    md += [f"Rerun on a quiet machine: `PYTHONPATH=src python benchmarks/distributed.py --size {size:.0e} --epochs {epochs}`.".replace("e+0", "e")]
    md += ["", f"Machine: {info.get('cpu', '')}, {info['cpus']} CPUs (load average before each run: {', '.join(loads)}); "
           f"torch {info['torch']}; {info['date']}."]
    write_results(name, {"machine": info, "rows": rows, **summary, "quick": args.quick}, "\n".join(md) + "\n")
    print("\n".join(md))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
