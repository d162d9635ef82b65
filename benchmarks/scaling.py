"""Training throughput and peak memory as the data grows: MF (rating, MSE) and NeuMF (ranking, BCE),
each with dense Adam and with lazy (sparse) Adam on its embedding tables.

Synthetic interactions with MovieLens-like shape: Zipf-like item popularity, lognormal user
activity, ~100 interactions per user on average, a catalogue that grows like ``17 * n**0.4``
(ML-100K: 1.7K items, ML-10M: 10.7K) and ratings drawn from MovieLens' 1–5 histogram. Each point
(model x size) trains in its own process, so ``peak_mb`` (``ru_maxrss``: data + model + torch)
is its own. Default training options, no validation; throughput is the mean of the epochs'
examples/s (positives per second for NeuMF; each comes with its sampled negatives).

    python benchmarks/scaling.py [--quick] [--max 1e6] [--threads 2] [--epochs 1]

Writes ``benchmarks/results/scaling.{json,md,png}`` (``scaling-quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from deeprecs.data.synthetic import skew  # noqa: E402,F401 - the benchmark's own name for it
from common import RESULTS, log, machine, markdown_table, run_isolated, write_results  # noqa: E402

SIZES = (10**5, 10**6, 10**7)
QUICK_SIZES = (10**4, 10**5)
MODELS = {"mf": ("mf", "rating", "mse"), "mf-sparse": ("mf", "rating", "mse"), "neumf": ("neumf", "ranking", "bce"),
          "neumf-sparse": ("neumf", "ranking", "bce")}
#: training options per row beyond the defaults: the -sparse rows use lazy (sparse) Adam on the tables
OPTIONS = {"mf-sparse": {"optimizer": "sparse-adam"}, "neumf-sparse": {"optimizer": "sparse-adam"}}
#: examples an epoch at most: a larger data set trains on a random sample of this many of its rows
#: (the tables stay sized for all of it), so that 10^7 costs seconds, not the budget of a whole run
EPOCH_CAP = 2_000_000
ZIPF_A = 0.9  # item popularity ~ rank ** -a
USER_SIGMA = 1.0  # user activity ~ lognormal(0, sigma)
PER_USER = 100


def shape(n: int) -> tuple[int, int]:
    """``(n_users, n_items)`` for ``n`` interactions."""
    return max(10, n // PER_USER), max(50, int(17 * n**0.4))


def synthetic(n: int, seed: int = 0):
    """``n`` interactions (an :class:`Interactions`, with 1-5 star ratings) of MovieLens-like skew
    (:mod:`deeprecs.data.synthetic`, in this benchmark's shape). Every (user, item) pair occurs
    once, as in MovieLens; rows are in random order."""
    from deeprecs.data.synthetic import SyntheticSpec, generate

    n_users, n_items = shape(n)
    return generate(SyntheticSpec(n, n_users, n_items, seed, ZIPF_A, USER_SIGMA, stars="whole"))


def point(model_key: str, n: int, epochs: int, seed: int, cap: int = EPOCH_CAP) -> dict:
    """Generate, build, train; in a child process (see ``run_isolated``)."""
    import resource

    from deeprecs.models import build_model
    from deeprecs.training import RankingTask, RatingTask, TrainConfig, fit

    name, task_name, loss = MODELS[model_key]
    t0 = time.perf_counter()
    data = synthetic(n, seed)
    gen_s = time.perf_counter() - t0
    data_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cfg = TrainConfig(epochs=epochs, seed=seed, loss=loss, progress=False, **OPTIONS.get(model_key, {}))
    model = build_model(name, data.n_users, data.n_items)
    trained_on = data.subset(np.arange(cap)) if len(data) > cap else data  # rows are in random order
    task = RatingTask(trained_on) if task_name == "rating" else RankingTask(trained_on, cfg)
    history = fit(model, task, cfg)
    rates = [row["examples_per_s"] for row in history.epochs]
    return {"interactions": n, "users": data.n_users, "items": data.n_items, "epochs": len(history.epochs),
            "examples_per_epoch": len(trained_on),
            "examples_per_s": float(np.mean(rates)) if rates else None, "fit_seconds": history.fit_seconds,
            "final_loss": history.epochs[-1]["train_loss"] if history.epochs else None,
            "n_parameters": model.n_parameters(), "generate_seconds": gen_s, "peak_mb_after_data": data_mb}


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.ticker import FuncFormatter

    from deeprecs.plots import plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for n, key in enumerate(MODELS):
        mine = [r for r in rows if r["model"] == key and r.get("examples_per_s")]
        if not mine:
            continue
        x = [r["interactions"] for r in mine]
        style = {"color": f"C{n}", "marker": "o", "label": f"{key} ({MODELS[key][1]}, {MODELS[key][2]})"}
        a.plot(x, [r["examples_per_s"] for r in mine], **style)
        b.plot(x, [r["peak_mb"] for r in mine], **style)
    for ax, label in ((a, "training throughput (examples/s)"), (b, "peak memory (MB, ru_maxrss)")):
        ax.set_xscale("log")
        ax.set_xlabel("interactions")
        ax.set_title(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    for ax in (a, b):
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10^4 and 10^5 interactions, 1 epoch (CI smoke test)")
    ap.add_argument("--max", type=float, default=None, help="largest size to run (e.g. 1e6)")
    ap.add_argument("--epochs", type=int, default=1, help="epochs per point (throughput is their mean)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per point (default 2; 1 with --quick)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--dense-max", type=float, default=1e6,
                    help="largest size for models with dense Adam on their tables (each step updates every row: "
                         "hours at 10^7); the sparse-Adam rows go on to --max")
    args = ap.parse_args(argv)
    args.threads = args.threads or (1 if args.quick else 2)
    sizes = [n for n in (QUICK_SIZES if args.quick else SIZES) if args.max is None or n <= args.max]
    rows = []
    for n in sizes:
        epochs = args.epochs
        for key in args.models.split(","):
            if n > args.dense_max and OPTIONS.get(key, {}).get("optimizer") != "sparse-adam":
                continue
            log(f"[scaling] {key} {n:,} interactions, {epochs} epoch(s) ...")
            row = {"model": key, "interactions": n, **run_isolated(point, key, n, epochs, args.seed, threads=args.threads)}
            log(f"   {row.get('examples_per_s') or 0:,.0f} examples/s  peak {row.get('peak_mb', 0):,.0f} MB  {row.get('error', '')}")
            rows.append(row)
    name = "scaling-quick" if args.quick else "scaling"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(rows, RESULTS / f"{name}.png")
    sample = synthetic(min(sizes), args.seed)
    info = machine()
    columns = ["model", "interactions", "users", "items", "epochs", "examples_per_epoch", "examples_per_s", "fit_seconds", "peak_mb",
               "peak_mb_after_data", "n_parameters", "threads"]
    md = [f"# Scaling: throughput and memory vs interactions{' (quick)' if args.quick else ''}", "",
          f"Synthetic MovieLens-like data (item popularity ~ rank^-{ZIPF_A}, user activity lognormal(0, {USER_SIGMA}), "
          f"~{PER_USER} interactions per user; at {min(sizes):,}: the top 10% of items hold {skew(sample.item_counts()):.0%} "
          f"and the top 10% of users {skew(sample.user_counts()):.0%} of interactions). "
          f"MF: rating task, MSE (mf-sparse: the same with `--optimizer sparse-adam`, which updates only the rows a batch touches); "
          f"NeuMF: ranking task, BCE with 4 sampled negatives per positive (examples/s counts positives). "
          f"Dense-Adam rows stop at {args.dense_max:,.0f} interactions (every step updates every row of the tables); the "
          f"-sparse rows (lazy Adam on the tables) go on. An epoch is at most {EPOCH_CAP:,} examples: above that, a random "
          "sample of the rows (the model's tables sized for all of them, the whole data in memory). "
          f"Default options; seed {args.seed}; {args.threads} torch threads; each point in its own process "
          "(`peak_mb`: the process's ru_maxrss, `peak_mb_after_data`: the same right after generating the data).", "",
          markdown_table(rows, columns), f"![scaling]({name}.png)", "",
          f"Machine: {info.get('cpu', '')}, {info['cpus']} CPUs; torch {info['torch']}; {info['date']}."]
    payload = {"machine": info, "seed": args.seed, "quick": args.quick, "zipf_a": ZIPF_A, "user_sigma": USER_SIGMA, "rows": rows}
    jpath, mpath = write_results(name, payload, "\n".join(md) + "\n")
    print("\n".join(md))
    log(f"wrote {jpath}, {mpath} and {name}.png")
    return 0 if all(r.get("error") is None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
