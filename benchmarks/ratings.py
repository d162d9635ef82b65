"""Explicit ratings on MovieLens 100K: our models (default options) beside Surprise's.

Protocols (../shared/PROTOCOLS.md): ``random:0.2`` with seed 0 and the canonical ``u1`` split.
Every row runs in its own process (peak memory is its own). Surprise runs on the identical
train/test rows when ``scikit-surprise`` is installed (``pip install -e '.[bench]'``).

    python benchmarks/ratings.py [--quick] [--threads 2] [--splits random:0.2,canonical:u1]

Writes ``benchmarks/results/ratings.json`` and ``ratings.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import installed, log, machine, markdown_table, run_isolated, run_models, write_results  # noqa: E402

MODELS = ["mf", "biased-mf", "nnmf", "svdpp", "mlp", "two-tower", "autorec", "blend"]
QUICK_MODELS = ["biased-mf", "mlp"]
PEERS = ["SVD", "SVD++", "KNNBaseline"]
TARGETS = {  # issue 2: (split, model, metric, bound)
    ("random:0.2", "biased-mf", "rmse"): 0.915,
    ("random:0.2", "mlp", "rmse"): 0.925,
    ("random:0.2", "mf", "mae_rounded"): 0.69,
    ("random:0.2", "best", "rmse"): 0.905,
    ("canonical:u1", "best", "rmse"): 0.900,
}


#: the blend row blends this benchmark's own runs of its members (see ``common.run_models``)
BLEND_OF = ["biased-mf", "svdpp", "autorec"]


def ours(model: str, split: str, data: str, quick: bool, runs: str = "", pretrain: tuple = ()) -> dict:
    from deeprecs.pipeline import TrainSpec, train

    options = {"epochs": 3} if quick else {}
    spec = TrainSpec(model=model, data=data, split=split, seed=0, train_options=options, pretrain=[str(Path(runs) / p) for p in pretrain])
    trained, metrics, history, _, _ = train(spec, out=Path(runs) / model if runs else None, progress=False)
    row = {k: metrics.get(k) for k in ("rmse", "mae", "mae_rounded", "fit_seconds", "eval_seconds", "epochs", "n_parameters")}
    if model == "nnmf":
        row["min_embedding"] = float(min(trained.user_emb.weight.min().detach(), trained.item_emb.weight.min().detach()))
    return row


#: each peer's grid, the library's defaults first (ties keep the earlier point)
SURPRISE_GRIDS = {
    "SVD": {"n_factors": [100, 50], "reg_all": [0.02, 0.05, 0.1], "n_epochs": [20, 40]},
    "SVD++": {"reg_all": [0.02, 0.05, 0.1]},  # ~20 s a fit: one axis
    "KNNBaseline": {"k": [40, 80], "sim_options": [{"name": "msd", "user_based": True}, {"name": "pearson_baseline", "user_based": False}]},
}


def surprise_peer(algo_name: str, split: str, data: str) -> dict:
    """Surprise on exactly our parts: fitted on the train part, its grid (``SURPRISE_GRIDS``)
    chosen by RMSE on our validation part, measured on test."""
    import numpy as np
    from surprise import SVD, Dataset, KNNBaseline, Reader, SVDpp

    from common import grid, tune
    from deeprecs.pipeline import TrainSpec, load_data, prepare_split

    spec = TrainSpec(model="biased-mf", data=data, split=split, seed=0)
    ds = load_data(spec)
    sp = prepare_split(spec, ds, "rating")  # the train / validation / test parts our models get
    reader = Reader(rating_scale=(float(np.min(ds.rating_values)), float(np.max(ds.rating_values))))
    trainset = Dataset.load_from_df(sp.train.to_frame()[["user", "item", "rating"]], reader).build_full_trainset()
    make = {"SVD": lambda p: SVD(random_state=0, **p), "SVD++": lambda p: SVDpp(random_state=0, **p),
            "KNNBaseline": lambda p: KNNBaseline(verbose=False, **p)}[algo_name]

    def predict(algo, part) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
        frame = part.to_frame()
        return np.array([algo.predict(u, i).est for u, i in zip(frame["user"], frame["item"])]), frame["rating"].to_numpy()

    def fit(p: dict):
        algo = make(p)
        algo.fit(trainset)
        return algo

    def valid_rmse(algo) -> float:  # noqa: ANN001
        pred, truth = predict(algo, sp.valid)
        return float(np.sqrt(np.mean((pred - truth) ** 2)))

    best = tune(fit, grid(**SURPRISE_GRIDS[algo_name]), valid_rmse, higher_is_better=False)
    t0 = time.perf_counter()
    pred, truth = predict(best["fitted"], sp.test)
    eval_s = time.perf_counter() - t0
    values = np.asarray(ds.rating_values, dtype=float)
    rounded = values[np.abs(pred[:, None] - values[None, :]).argmin(1)]
    return {"rmse": float(np.sqrt(np.mean((pred - truth) ** 2))), "mae": float(np.mean(np.abs(pred - truth))),
            "mae_rounded": float(np.mean(np.abs(rounded - truth))), "fit_seconds": best["fit_seconds"], "eval_seconds": eval_s,
            "valid_rmse": best["valid"], "tuning_seconds": best["tuning_seconds"], "chosen": best["params"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="two models, 3 epochs, random split only (CI smoke test)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default="ml-100k")
    ap.add_argument("--splits", default=None)
    ap.add_argument("--models", default=None, help="comma list (default: all rating models)")
    ap.add_argument("--no-peers", action="store_true")
    args = ap.parse_args(argv)
    splits = (args.splits or ("random:0.2" if args.quick else "random:0.2,canonical:u1")).split(",")
    models = args.models.split(",") if args.models else (QUICK_MODELS if args.quick else MODELS)
    peers = [] if (args.no_peers or args.quick or not installed("surprise")) else PEERS
    rows = []
    for split in splits:
        rows += run_models(ours, models, BLEND_OF, args.threads, f"ratings {split}",
                           lambda m, runs, pre, split=split: (m, split, args.data, args.quick, runs, pre), extra={"split": split})
        for peer in peers:
            if peer == "SVD++" and split != "random:0.2":
                continue  # ~10 s each; once is enough to place it
            log(f"[ratings] {split} surprise {peer} ...")
            row = {"split": split, "library": "surprise", "model": peer, **run_isolated(surprise_peer, peer, split, args.data, threads=1)}
            rows.append(row)
    summary = []
    for (split, model, metric), bound in TARGETS.items():
        cands = [r for r in rows if r["split"] == split and r["library"] == "deeprecs" and metric in r and r[metric] is not None]
        if model != "best":
            cands = [r for r in cands if r["model"] == model]
        if not cands:
            continue
        best = min(cands, key=lambda r: r[metric])
        summary.append({"split": split, "model": best["model"] if model == "best" else model, "metric": metric,
                        "value": best[metric], "target": f"<= {bound}", "met": "yes" if best[metric] <= bound else "NO"})
    for r in rows:  # ratio of our fit time to the fastest peer with comparable (<= +0.005) RMSE
        peers_here = [p for p in rows if p["split"] == r["split"] and p["library"] != "deeprecs" and p.get("rmse")]
        comparable = [p for p in peers_here if r.get("rmse") and p["rmse"] <= r["rmse"] + 0.005]
        if r["library"] == "deeprecs" and comparable and r.get("fit_seconds"):
            fastest = min(comparable, key=lambda p: p["fit_seconds"])
            r["time_vs_best_peer"] = r["fit_seconds"] / max(fastest["fit_seconds"], 1e-9)
    columns = ["split", "library", "model", "rmse", "mae", "mae_rounded", "fit_seconds", "eval_seconds", "epochs", "peak_mb", "threads",
               "time_vs_best_peer", "tuning_seconds", "chosen"]
    md = ["# Explicit ratings (MovieLens 100K)", "",
          f"Default options; seed 0; {args.threads} torch threads; protocol per ../shared/PROTOCOLS.md. "
          "Each row in its own process. `time_vs_best_peer`: our fit time / the fastest peer's with RMSE within +0.005 (lower is better). "
          "Surprise is tuned like ours, on the validation part carved from train (never on test): `chosen` is what validation "
          "picked, `fit_seconds` the fit of that choice, `tuning_seconds` the whole search. The blend row blends this "
          f"benchmark's {', '.join(BLEND_OF)} runs of the same split (`blend --pretrain`); its fit seconds include theirs.", "",
          markdown_table(rows, columns), "## Targets (issue 2)", "", markdown_table(summary, ["split", "model", "metric", "value", "target", "met"])]
    info = machine()
    md += ["", f"Machine: {info.get('cpu', '')}, {info['cpus']} CPUs; torch {info['torch']}; surprise {info['surprise']}; {info['date']}."]
    name = "ratings-quick" if args.quick else "ratings"
    jpath, mpath = write_results(name, {"machine": info, "rows": rows, "targets": summary, "seed": 0}, "\n".join(md) + "\n")
    print("\n".join(md))
    log(f"wrote {jpath} and {mpath}")
    return 0 if all(r.get("error") is None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
