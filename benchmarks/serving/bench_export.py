"""Export timing: top-100 for every user of an ML-1M model into SQLite and PostgreSQL.

    python benchmarks/serving/bench_export.py --run runs/ml1m [--pg URL] [--repeats 3]

Train the model first: ``deeprecs train mf --data ncf:/work/shared/data/ncf-ml-1m/ml-1m --out runs/ml1m``.
PostgreSQL: ``--pg URL``, else ``$DEEPRECS_TEST_PG_URL``, else ``scripts/postgres.sh start``.
Times the whole ``export_run`` (scoring + top-k + load + index + pointer flip); median of
--repeats. Writes results/export.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from common import ensure_run, median_time, write_results
from deeprecs.runs import load_run
from deeprecs.store import export_run, prune

ROOT = Path(__file__).resolve().parents[2]
TARGETS = {"sqlite": 5.0, "postgresql": 10.0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=str(ROOT / "runs/ml1m"))
    ap.add_argument("--pg", default=os.environ.get("DEEPRECS_TEST_PG_URL"))
    ap.add_argument("-k", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    run = load_run(ensure_run(args.run))
    pg = args.pg or subprocess.run([str(ROOT / "scripts/postgres.sh"), "start"], check=True, capture_output=True,
                                   text=True).stdout.split()[-1]
    urls = {"sqlite": f"sqlite:///{tempfile.mkdtemp()}/recs.db", "postgresql": pg}
    results = {}
    for name, url in urls.items():
        infos = []
        seconds, times = median_time(lambda: infos.append(export_run(run, url, k=args.k, keep=1, progress=False)), args.repeats)
        prune(url, keep=1)
        results[name] = {"median_seconds": seconds, "times": times, "rows": infos[-1].n_rows, "target_seconds": TARGETS[name]}
        print(name, results[name], flush=True)
    md = [f"# Export: top-{args.k} for {len(run.user_map):,} users x {len(run.item_map):,} items ({Path(args.run).name}), "
          "torch 1 thread", "", "| database | rows | median s | runs (s) | target s |", "|---|---:|---:|---|---:|"]
    md += [f"| {n} | {r['rows']:,} | {r['median_seconds']:.2f} | {', '.join(f'{t:.2f}' for t in r['times'])} | "
           f"<= {r['target_seconds']:.0f} |" for n, r in results.items()]
    write_results("export", {"run": args.run, "k": args.k, "results": results}, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
