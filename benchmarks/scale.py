"""Scale: each stage of a run timed, with its peak memory, from 10^6 to 3.2 x 10^7 interactions,
implicit's ALS beside ours on the same data.

Data: ``--data synthetic:N`` (:mod:`deeprecs.data.synthetic`, MovieLens-like; at 3.2 x 10^7 ML-32M's
200,948 users x 87,585 items), written once to Parquet (not timed) and read back through
``load_dataset`` (``load``: int32 ids, no per-row Python). Then, each timed:

* ``compile_s`` (not a stage): loading the compiled (numba) kernels the stages use, once per process
  (from numba's on-disk cache; compiled on a machine's first run);
* ``split``: ``random:0.2`` (positives: every rating; each pair once);
* ``als``: our ALS, 64 factors, ``--sweeps`` sweeps (per-sweep time: the sweeps' time less the
  set-up, measured with 0 sweeps); ``implicit_als``: implicit's ALS (CPU, conjugate gradient, 64
  factors) on the same train matrix, same sweeps, same threads;
* ``mf_epoch``: one epoch of BPR-MF (64 factors, lazy Adam on the tables, 4 negatives a positive,
  batches of 8,192);
* ``evaluate``: full-ranking top-K metrics of ALS for ``--eval-users`` users with a test item;
* ``export``: the top-100 of every user into SQLite (``deeprecs export``'s code).

``peak_mb``: the process's peak RSS (``ru_maxrss``) after each stage; each size runs in its own
process. ``ns_per_interaction``: a stage's time over the size: flat when it scales linearly.
The synthetic catalogue grows with the log (users and items both ~ N), so scoring every user
against every item (``export``) is O(N^2) by nature, and ranking 10,000 users O(N): their
``ns_per_score`` (time over users x items scored) is what stays flat when they scale as they should.
``growth``: a stage's cost per unit at the largest size over that at the smallest (1: linear).

    python benchmarks/scale.py [--quick] [--sizes 1e6,3.2e6,1e7,3.2e7] [--threads 1] [--sweeps 15] [--merge]
    python benchmarks/scale.py --render   # the Markdown and plot again from the saved JSON

Writes ``benchmarks/results/scale.{json,md,png}`` (``scale-quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, installed, log, machine, markdown_table, run_isolated, write_results  # noqa: E402

SIZES = (1_000_000, 3_200_000, 10_000_000, 32_000_000)
QUICK_SIZES = (100_000, 300_000)
STAGES = ("load", "split", "als", "implicit_als", "mf_epoch", "evaluate", "export")
FACTORS = 64


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stages:
    """Times stages and records the peak RSS after each."""

    def __init__(self, partial: Path | None = None) -> None:
        self.row: dict = {}
        self.partial = partial  # the row so far, rewritten after each stage: a long run that is stopped keeps its stages

    def __call__(self, name: str, fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN204
        log(f"   {name} ...")
        t0, cpu0 = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        self.row[f"{name}_s"] = time.perf_counter() - t0
        self.row[f"{name}_cpu_s"] = time.process_time() - cpu0  # what it cost, whatever else the machine ran
        self.row[f"{name}_peak_mb"] = _peak_mb()
        if self.partial is not None:
            self.partial.write_text(json.dumps(self.row))
        return out


def point(n: int, seed: int, sweeps: int, eval_users: int, threads: int, peer: bool, peer_sweeps: int) -> dict:
    """One size, every stage, in a child process (see ``run_isolated``)."""
    import numpy as np
    import torch

    from deeprecs.data.load import load_dataset
    from deeprecs.data.splits import make_split
    from deeprecs.data.synthetic import parse
    from deeprecs.evaluation.protocols import evaluate_ranking
    from deeprecs.models import build_model
    from deeprecs.models.base import FitData
    from deeprecs.pipeline.scoring import score_fn
    from deeprecs.runs import load_run, save_run
    from deeprecs.store.writer import export_run
    from deeprecs.tasks import RankingTask
    from deeprecs.training import TrainConfig, fit

    spec = f"synthetic:{n},seed={seed}"
    users, items = parse(spec).shape()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stage = Stages(partial_path(n))
    stage.row.update(interactions=n, users=users, items=items, sweeps=sweeps)
    with tempfile.TemporaryDirectory(prefix="deeprecs-scale-") as tmp:
        table = Path(tmp) / "log.parquet"
        t0 = time.perf_counter()
        load_dataset(spec).interactions.to_frame().to_parquet(table, index=False)  # the file to load (not timed)
        stage.row.update(generate_and_write_s=time.perf_counter() - t0, generate_peak_mb=_peak_mb())
        t0 = time.perf_counter()
        warm_kernels()
        stage.row["compile_s"] = time.perf_counter() - t0
        ds = stage("load", load_dataset, table)
        inter = ds.interactions
        split = stage("split", make_split, inter, "random:0.2", seed)
        train, test = split.train.positives(None), split.test.positives(None)
        del ds, inter, split

        setup = build_model("als", train.n_users, train.n_items, factors=FACTORS, iterations=0)
        t0, cpu0 = time.perf_counter(), time.process_time()
        setup.fit_data(FitData(train))
        setup_s, setup_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        del setup
        als = build_model("als", train.n_users, train.n_items, factors=FACTORS, iterations=sweeps)
        stage("als", als.fit_data, FitData(train))
        stage.row["als_sweep_s"] = (stage.row["als_s"] - setup_s) / max(sweeps, 1)
        stage.row["als_sweep_cpu_s"] = (stage.row["als_cpu_s"] - setup_cpu_s) / max(sweeps, 1)
        if peer:
            stage("implicit_als", _implicit_als, train.tocsr(), peer_sweeps, threads)
            stage.row["implicit_als_sweep_s"] = stage.row["implicit_als_s"] / max(peer_sweeps, 1)
            stage.row["implicit_als_sweep_cpu_s"] = stage.row["implicit_als_cpu_s"] / max(peer_sweeps, 1)
            stage.row["implicit_als_sweeps"] = peer_sweeps

        mf = build_model("bpr-mf", train.n_users, train.n_items, factors=FACTORS)
        cfg = TrainConfig(epochs=1, loss="bpr", optimizer="sparse-adam", batch_size=8192, progress=False, threads=threads)
        history = stage("mf_epoch", fit, mf, RankingTask(train, cfg), cfg)
        stage.row["mf_examples_per_s"] = history.epochs[0]["examples_per_s"]
        del mf

        rng = np.random.default_rng(seed)
        chosen = rng.choice(np.unique(test.users), size=min(eval_users, len(np.unique(test.users))), replace=False)
        metrics = stage("evaluate", evaluate_ranking, score_fn(als), train, test.subset(np.isin(test.users, chosen)), (10,))
        stage.row["als_ndcg@10"] = metrics["ndcg@10"]
        stage.row["evaluate_users"] = len(chosen)

        run_dir = Path(tmp) / "run"
        save_run(run_dir, als, {"model": "als", "task": "ranking", "data": spec, "dataset": spec}, train)
        del als, train, test
        run = load_run(run_dir)
        info = stage("export", export_run, run, f"sqlite:///{tmp}/recs.db", 100, progress=False)
        stage.row["export_rows"] = info.n_rows if hasattr(info, "n_rows") else None
    return {"interactions": n, "users": users, "items": items, **stage.row}


def warm_kernels() -> None:
    """Load the compiled (numba) kernels that the stages use, as a process's first large load,
    split and ALS fit would: once per process, from numba's on-disk cache (compiled the first time
    on a machine), not timed with the stages (``compile_s``)."""
    import numpy as np
    import torch

    from deeprecs.data.interactions import _vocabulary, counts
    from deeprecs.data.shuffle import permutation_tail
    from deeprecs.models.als import pattern, solve_cg

    _vocabulary(np.arange(3, dtype=np.int64), compiled=True)
    counts(np.arange(3, dtype=np.int32), 3, compiled=True)
    permutation_tail(0, 10, 2, compiled=True)
    cells = pattern(np.array([0, 1]), np.array([1, 0]), 2, 2)
    solve_cg(torch.zeros(2, FACTORS), torch.ones(2, FACTORS), cells, cells, 1.0, 1)


def partial_path(n: int) -> Path:
    return RESULTS / f"scale-{n}.partial.json"


def _implicit_als(csr, sweeps: int, threads: int) -> None:  # noqa: ANN001 - scipy CSR
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"):  # implicit's own threads do the work (its advice)
        model = AlternatingLeastSquares(factors=FACTORS, iterations=sweeps, regularization=100.0, alpha=10.0, use_cg=True,
                                        calculate_training_loss=False, num_threads=threads, random_state=0)
        model.fit(csr, show_progress=False)


def plot(rows: list[dict], path: Path) -> None:
    from deeprecs.plots import plt

    ok = [r for r in rows if "error" not in r]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    x = [r["interactions"] for r in ok]
    for k, name in enumerate(STAGES):
        ys = [r.get(f"{name}_s") for r in ok]
        if any(y is not None for y in ys):
            a.plot(x, [1e9 * (y or float("nan")) / n for y, n in zip(ys, x)], marker="o", color=f"C{k}", label=name)
    b.plot(x, [r.get("peak_mb", float("nan")) / 1024 for r in ok], marker="o", color="C0", label="peak RSS (all stages)")
    b.axhline(8, color="k", ls="--", lw=1, label="target 8 GiB")
    a.set_title("time per interaction (ns) by stage")
    b.set_title("peak memory (GiB)")
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_xlabel("interactions")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    a.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(rows: list[dict], sizes: list[int], sweeps: int, args: argparse.Namespace, info: dict | None = None) -> None:
    """Write the results of ``rows`` (JSON, Markdown, plot) and print the Markdown."""
    name = "scale-quick" if args.quick else "scale"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(rows, RESULTS / f"{name}.png")
    info = info or machine()
    stage_cols = ["interactions", "users", "items"] + [f"{s}_s" for s in STAGES] + ["peak_mb", "load_before", "date"]
    rate_cols = ["interactions", "compile_s", "als_sweep_s", "implicit_als_sweeps", "implicit_als_sweep_s", "als_vs_implicit", "mf_examples_per_s", "als_ndcg@10", "export_rows"]
    linear = [r for r in rows if "error" not in r]
    md = [f"# Scale: stages timed, peak memory, 10^{len(str(min(sizes))) - 1} to {max(sizes):,} interactions{' (quick)' if args.quick else ''}",
          "", f"Synthetic MovieLens-like logs (`--data synthetic:N,seed={args.seed}`), read back from Parquet; split random:0.2; "
          f"ALS: {FACTORS} factors, {sweeps} sweeps, conjugate gradient, beside implicit's ALS (same; its sweeps in `implicit_als_sweeps`); one BPR-MF epoch ({FACTORS} factors, "
          f"sparse Adam, batches of 8,192); full-ranking evaluation of {args.eval_users:,} users; export of every user's top 100 to SQLite. "
          f"{args.threads} thread(s); each size in its own process; `peak_mb`: its peak RSS. Seconds:", "",
          markdown_table(rows, stage_cols), "",
          *[f"{r['interactions']:,}: {r['note']}." for r in rows if r.get("note")], "", "Rates:", "", markdown_table(rows, rate_cols), "",
          "Time per interaction (ns) by stage:", "",
          markdown_table(linear, ["interactions"] + [f"{s}_ns_per_interaction" for s in STAGES]
                         + ["als_sweep_ns_per_interaction", "evaluate_ns_per_score", "export_ns_per_score"]), "",
          "Processor time per interaction (ns) by stage (the machine's other jobs do not count in it, but still share its caches):", "",
          markdown_table(linear, ["interactions"] + [f"{s}_cpu_ns_per_interaction" for s in (*STAGES, "als_sweep", "implicit_als_sweep")]
                         + ["evaluate_cpu_ns_per_score", "export_cpu_ns_per_score"]), "",
          "Growth of the cost per unit, largest size over smallest (target: within 2x of linear, i.e. <= 2; "
          "fixed costs make the smallest size look dear, so a growth below 1 is sub-linear):", "",
          markdown_table(growth(rows), ["stage", "unit", "smallest", "largest", "growth"]), "",
          f"![scale]({name}.png)", "",
          f"Machine: {info.get('cpu', '')}, {info['cpus']} CPUs (shared with other jobs while it ran: `load_before` is the load average when each size started); torch {info['torch']}; {info['date']}."]
    payload = {"growth": growth(rows), "machine": info, "seed": args.seed, "quick": args.quick, "sweeps": sweeps, "threads": args.threads, "rows": rows}
    jpath, mpath = write_results(name, payload, "\n".join(md) + "\n")
    print("\n".join(md))
    log(f"wrote {jpath}, {mpath} and {name}.png")


def derive(row: dict) -> None:
    """A row's costs per unit: ns per interaction of each stage, ns per score of the rankings, in
    wall-clock time and in processor time (``cpu``: what the stage cost whatever else ran)."""
    n = row["interactions"]
    for name in (*STAGES, "als_sweep", "implicit_als_sweep"):
        if row.get(f"{name}_cpu_s") is not None:
            row[f"{name}_cpu_ns_per_interaction"] = 1e9 * row[f"{name}_cpu_s"] / n
    for name in ("export", "evaluate"):
        scored = row.get("users", 0) if name == "export" else row.get("evaluate_users", 0)
        if row.get(f"{name}_cpu_s") and scored:
            row[f"{name}_cpu_ns_per_score"] = 1e9 * row[f"{name}_cpu_s"] / (scored * row["items"])
    for name in STAGES:
        if row.get(f"{name}_s") is not None:
            row[f"{name}_ns_per_interaction"] = 1e9 * row[f"{name}_s"] / n
    if row.get("als_sweep_s"):
        row["als_sweep_ns_per_interaction"] = 1e9 * row["als_sweep_s"] / n
    if row.get("implicit_als_sweep_s"):
        row["implicit_als_sweep_ns_per_interaction"] = 1e9 * row["implicit_als_sweep_s"] / n
    if row.get("als_sweep_s") and row.get("implicit_als_sweep_s"):
        row["als_vs_implicit"] = row["als_sweep_s"] / row["implicit_als_sweep_s"]
    if row.get("export_s") and row.get("users"):
        row["export_ns_per_score"] = 1e9 * row["export_s"] / (row["users"] * row["items"])
    if row.get("evaluate_s") and row.get("evaluate_users"):
        row["evaluate_ns_per_score"] = 1e9 * row["evaluate_s"] / (row["evaluate_users"] * row["items"])


GROWTH = (("load", "load_ns_per_interaction"), ("split", "split_ns_per_interaction"), ("als (per sweep)", "als_sweep_ns_per_interaction"),
          ("implicit als (per sweep)", "implicit_als_sweep_ns_per_interaction"), ("mf_epoch", "mf_epoch_ns_per_interaction"),
          ("evaluate (per score)", "evaluate_ns_per_score"), ("export (per score)", "export_ns_per_score"),
          ("export (per interaction)", "export_ns_per_interaction"))
GROWTH = tuple((f"{label}, {clock}", key.replace("_ns_", "_cpu_ns_") if clock == "processor time" else key)
               for clock in ("processor time", "wall clock") for label, key in GROWTH)


def growth(rows: list[dict]) -> list[dict]:
    """Each stage's cost per unit at the largest size over that at the smallest (1: linear)."""
    ok = sorted((r for r in rows if "error" not in r), key=lambda r: r["interactions"])
    out = []
    for label, key in GROWTH:
        have = [r for r in ok if r.get(key)]
        if len(have) >= 2:
            out.append({"stage": label, "unit": key.split("_ns_")[-1].replace("per_", "ns per "), "smallest": have[0][key],
                        "largest": have[-1][key], "growth": have[-1][key] / have[0][key]})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10^5 and 3 x 10^5 interactions, 3 sweeps, no peer (CI smoke test)")
    ap.add_argument("--sizes", default=None, help="comma-separated sizes (default 1e6,3.2e6,1e7,3.2e7)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sweeps", type=int, default=None, help="ALS sweeps (default 15; 3 with --quick)")
    ap.add_argument("--peer-sweeps", type=int, default=None, help="implicit's sweeps (default: --sweeps; its time per sweep is compared)")
    ap.add_argument("--eval-users", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-peer", action="store_true", help="skip implicit's ALS")
    ap.add_argument("--render", action="store_true", help="write the Markdown and plot again from the saved JSON (no run)")
    ap.add_argument("--merge", action="store_true", help="keep the saved rows of the sizes not run (each row keeps its own date "
                    "and load) and write all of them, the growth table over all")
    args = ap.parse_args(argv)
    if args.render:
        saved = json.loads((RESULTS / f"scale{'-quick' if args.quick else ''}.json").read_text())
        done = {r["interactions"] for r in saved["rows"] if "error" not in r}
        for path in sorted(RESULTS.glob("scale-*.partial.json")):  # a size stopped part-way: the stages it finished
            part = json.loads(path.read_text())
            if part["interactions"] not in done:
                saved["rows"] = [r for r in saved["rows"] if r["interactions"] != part["interactions"]]
                saved["rows"].append({**part, "peak_mb": max(v for k, v in part.items() if k.endswith("_peak_mb")),
                                      "note": "stopped part-way: the stages it finished"})
        saved["rows"].sort(key=lambda r: r["interactions"])
        for row in saved["rows"]:
            derive(row)
        args.seed, args.threads = saved["seed"], saved["threads"]
        report(saved["rows"], [r["interactions"] for r in saved["rows"]], saved["sweeps"], args, saved["machine"])
        return 0
    sizes = [int(float(s)) for s in args.sizes.split(",")] if args.sizes else list(QUICK_SIZES if args.quick else SIZES)
    sweeps = args.sweeps or (3 if args.quick else 15)
    peer = not args.no_peer and not args.quick and installed("implicit")
    rows, kept = [], []
    if args.merge and (RESULTS / f"scale{'-quick' if args.quick else ''}.json").is_file():
        saved = json.loads((RESULTS / f"scale{'-quick' if args.quick else ''}.json").read_text())
        kept = [{**r, "date": r.get("date", saved["machine"].get("date"))} for r in saved["rows"] if r["interactions"] not in sizes]
    for n in sizes:
        log(f"[scale] {n:,} interactions ...")
        load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
        row = {"interactions": n, "load_before": load, "date": time.strftime("%Y-%m-%d %H:%M:%S"), **run_isolated(point, n, args.seed, sweeps, args.eval_users, args.threads, peer, args.peer_sweeps or sweeps, threads=args.threads,
                                                   timeout=5400)}
        row.pop("traceback", None)
        if "error" not in row:
            partial_path(n).unlink(missing_ok=True)
        derive(row)
        log(f"   peak {row.get('peak_mb', 0):,.0f} MB  {row.get('error', '')}")
        rows.append(row)
        merged = sorted(kept + rows, key=lambda r: r["interactions"])
        report(merged, [r["interactions"] for r in merged], sweeps, args)  # after every size: a long run that is stopped keeps what it measured
    return 0 if all(r.get("error") is None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
