"""HNSW (faiss, inner product) vs exact top-10 on synthetic item vectors.

    python benchmarks/serving/bench_ann.py [--items 100000 --dim 64 --queries 1000]

Synthetic vectors look like learned embeddings: a mixture of 256 Gaussian clusters plus noise.
Reports recall@10 against exact search and queries/s over a sweep of efSearch, one thread,
both one query at a time (how the server's live path calls it) and in batches of all queries.
Writes results/ann.{json,md} and results/ann.png.
"""

from __future__ import annotations

import argparse
import time

import faiss
import numpy as np
import torch

from common import OUT, write_results
from deeprecs.retrieval.ann import HNSWIndex, exact_search


def synthetic(n: int, dim: int, rng: np.random.Generator, centers: np.ndarray) -> np.ndarray:
    x = centers[rng.integers(len(centers), size=n)] + 0.6 * rng.normal(size=(n, dim))
    return (x / np.sqrt(dim)).astype(np.float32)


def qps(fn, n: int, repeats: int = 3) -> float:
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best.append(time.perf_counter() - start)
    return n / float(np.median(best))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--single", type=int, default=300, help="queries timed one at a time")
    ap.add_argument("--ef", default="16,32,64,128,256")
    args = ap.parse_args()
    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(256, args.dim))
    items, queries = synthetic(args.items, args.dim, rng, centers), synthetic(args.queries, args.dim, rng, centers)

    truth, _ = exact_search(queries, items, 10)
    exact_batch = qps(lambda: exact_search(queries, items, 10), len(queries))
    exact_single = qps(lambda: [exact_search(queries[i : i + 1], items, 10) for i in range(args.single)], args.single)

    start = time.perf_counter()
    index = HNSWIndex(items, m=32, ef_construction=100)
    build_s = time.perf_counter() - start
    rows = []
    for ef in [int(x) for x in args.ef.split(",")]:
        index.ef_search = ef
        found, _ = index.search(queries, 10)
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
        batch = qps(lambda: index.search(queries, 10), len(queries))
        single = qps(lambda: [index.search(queries[i : i + 1], 10) for i in range(args.single)], args.single)
        rows.append({"ef_search": ef, "recall@10": recall, "qps_single": single, "qps_batch": batch,
                     "speedup_single": single / exact_single, "speedup_batch": batch / exact_batch})
        print(rows[-1])

    ok = [r for r in rows if r["recall@10"] >= 0.98]
    best = max(ok, key=lambda r: r["qps_single"]) if ok else None
    md = [f"# ANN (HNSW, M=32, efConstruction=100) vs exact: {args.items:,} items x {args.dim}-d, 1 thread", "",
          f"Exact: {exact_single:,.0f} queries/s one at a time, {exact_batch:,.0f} queries/s batched. "
          f"Index build {build_s:.1f} s.", "",
          "| efSearch | recall@10 | QPS (1 at a time) | x exact | QPS (batched) | x exact |", "|---:|---:|---:|---:|---:|---:|"]
    md += [f"| {r['ef_search']} | {r['recall@10']:.4f} | {r['qps_single']:,.0f} | {r['speedup_single']:.1f} | "
           f"{r['qps_batch']:,.0f} | {r['speedup_batch']:.1f} |" for r in rows]
    target = (f"Target recall@10 >= 0.98 at >= 5x exact QPS: efSearch={best['ef_search']} gives recall "
              f"{best['recall@10']:.4f} at {best['speedup_single']:.1f}x (one at a time), {best['speedup_batch']:.1f}x (batched)."
              if best else "Target recall@10 >= 0.98: not reached on this sweep.")
    md += ["", target, ""]
    _plot(rows, exact_single, exact_batch)
    write_results("ann", {"items": args.items, "dim": args.dim, "queries": args.queries, "build_seconds": build_s,
                          "exact_qps_single": exact_single, "exact_qps_batch": exact_batch, "sweep": rows}, "\n".join(md))


def _plot(rows: list[dict], exact_single: float, exact_batch: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, exact, label in (("qps_single", exact_single, "one query at a time"), ("qps_batch", exact_batch, "batched")):
        line, = ax.plot([r["recall@10"] for r in rows], [r[key] for r in rows], "o-", label=f"HNSW, {label}")
        ax.axhline(exact, ls="--", color=line.get_color(), label=f"exact, {label}")
        for r in rows:
            ax.annotate(f"ef={r['ef_search']}", (r["recall@10"], r[key]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("recall@10 vs exact")
    ax.set_ylabel("queries / s (1 thread)")
    ax.set_yscale("log")
    ax.axvline(0.98, color="grey", lw=0.5)
    ax.legend(fontsize=7)
    ax.set_title("HNSW efSearch sweep")
    fig.tight_layout()
    OUT.mkdir(exist_ok=True)
    fig.savefig(OUT / "ann.png", dpi=120)


if __name__ == "__main__":
    main()
