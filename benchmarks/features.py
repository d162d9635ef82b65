"""Side information on MovieLens 100K: factorization machines with and without features, beside myFM.

Protocols (../shared/PROTOCOLS.md; issue 24's targets):

- ``canonical:u1``, ratings, RMSE: ``fm`` with ML-100K's side data (demographics, genres, year;
  the users' rated items and the items' raters as fields) and with ``--no-features``; myFM
  (Bayesian FM, Gibbs sampling: rank 10, 200 samples) on the same train part with the same
  feature tables, and with the ids alone;
- ``cold-items:0.2`` seed 0, positives >= 4, per-user AUC among the cold items (``cold_auc``): ``fm``
  with features (rated items as a field, item ids dropped half the time in training), and with
  ids alone (chance: a cold item has nothing else); ``hybrid-mf``, ``triplet``, ``deep-triplet``;
- ``canonical:ua``, positives >= 4, AUC: each model that reads features with and without them.

Every row runs in its own process. myFM 0.4.0 imports ``pkg_resources``, which setuptools >= 81 no
longer ships: a stand-in module answers its version lookup.

    python benchmarks/features.py [--quick] [--threads 1]

Writes ``benchmarks/results/features.json`` and ``features.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import installed, log, machine, markdown_table, run_isolated, write_results  # noqa: E402

TARGETS = {"u1_rmse": 0.895, "u1_fit_seconds": 20.0, "cold_items_auc": 0.76, "ua_deep_triplet_features_auc": 0.950,
           "ua_hybrid_below_id_only_at_most": 0.002}
COLD_OPTIONS = {"implicit": True, "id_dropout": 0.5}
#: ML-1M cold users (full run only): a cold user has no rated items, so no rated-items field; at most 10 epochs
COLD_USERS_MODELS = [("hybrid-mf", {"implicit": False}), ("hybrid-mf", {"implicit": False, "user_id_dropout": 0.5})]
COLD_USERS_TRAIN = {"epochs": 10, "batch_size": 4096}


def ours(split: str, model: str, features: bool, options: dict, positive: float | None, quick: bool) -> dict:
    from deeprecs.pipeline import TrainSpec, train

    spec = TrainSpec(model=model, data="ml-100k", split=split, seed=0, positive=positive, features=features, model_options=options,
                     train_options={"threads": 1, **({"epochs": 2} if quick else {})})
    cpu = time.process_time()
    _, metrics, _, _, _ = train(spec, progress=False)
    keys = ("rmse", "mae", "auc", "ndcg@10", "cold_auc", "cold_ndcg@10", "cold_recall@20", "fit_seconds", "epochs", "n_parameters",
            "user_features", "item_features")
    return {**{k: metrics.get(k) for k in keys}, "cpu_seconds": time.process_time() - cpu}


def _with_pkg_resources() -> None:
    """myFM 0.4.0 asks ``pkg_resources`` for its version; setuptools >= 81 has none."""
    import types
    from importlib import metadata

    if "pkg_resources" in sys.modules:
        return
    try:
        import pkg_resources  # noqa: F401
        return
    except ImportError:
        pass
    stub = types.ModuleType("pkg_resources")
    stub.DistributionNotFound = metadata.PackageNotFoundError
    stub.get_distribution = lambda name: types.SimpleNamespace(version=metadata.version(name))
    sys.modules["pkg_resources"] = stub


def design(part, features, n_users: int, n_items: int):
    """One-hot user and item ids, then the user's and the item's feature bags (CSR, as ours see them)."""
    import numpy as np
    import scipy.sparse as sp

    def onehot(ids, n):
        return sp.csr_matrix((np.ones(len(ids), dtype=np.float32), (np.arange(len(ids)), ids)), shape=(len(ids), n))

    blocks = [onehot(part.users, n_users), onehot(part.items, n_items)]
    for table, ids in ((features.users, part.users), (features.items, part.items)):
        if table is not None:
            whole = sp.csr_matrix((table.weights, table.indices, table.indptr), shape=(table.n_rows, table.n_features))
            blocks.append(whole[ids])
    return sp.hstack(blocks).tocsr()


def myfm_row(use_features: bool, quick: bool) -> dict:
    _with_pkg_resources()
    import myfm
    import numpy as np

    from deeprecs.data.features import Features
    from deeprecs.models import get_model_class
    from deeprecs.pipeline import TrainSpec, load_data, prepare_split
    from deeprecs.pipeline.data import load_features_of, merge

    spec = TrainSpec(model="fm", data="ml-100k", split="canonical:u1", seed=0, features=use_features)
    ds = load_data(spec)
    features = load_features_of(spec, ds, get_model_class("fm")) if use_features else Features()
    split = prepare_split(spec, ds, "rating")
    train = merge(split.train, split.valid)  # myFM needs no validation part: it fits on the whole train part
    n_users, n_items = train.n_users, train.n_items
    x_train, x_test = design(train, features, n_users, n_items), design(split.test, features, n_users, n_items)
    t0 = time.perf_counter()
    model = myfm.MyFMRegressor(rank=10, random_seed=0)
    samples = 20 if quick else 200
    model.fit(x_train, train.ratings.astype(np.float64), n_iter=samples, n_kept_samples=samples)
    fit_s = time.perf_counter() - t0
    pred = np.clip(model.predict(x_test), 1, 5)
    return {"rmse": float(np.sqrt(np.mean((pred - split.test.ratings) ** 2))), "fit_seconds": fit_s, "samples": samples}


#: LightFM's rows: which sides carry their id column (item features where the items' are off, always)
LIGHTFM_MODES = {"ids + features": (True, True), "features only": (True, False), "ids only": (False, True)}
LIGHTFM_PLAN = [("cold-items:0.2", "ids + features"), ("cold-items:0.2", "features only"), ("canonical:ua", "ids + features"),
                ("canonical:ua", "ids only")]


def lightfm_row(split: str, mode: str, quick: bool) -> dict:
    """LightFM (``rectools-lightfm``) on our split, positives >= 4: user features (demographics) and
    item features (genres, year) beside identity columns as ``mode`` says (``features only``: the
    items by their features alone; ``ids only``: no features); ``no_components`` x loss x epochs
    chosen on our validation part (its cold items' AUC on a cold-items split). Cold items are
    scored by their features alone (their id columns never saw a positive)."""
    from peers import lightfm_features, lightfm_features_tuned

    from deeprecs.evaluation.dislikes import dislikes_last
    from deeprecs.evaluation.protocols import evaluate_ranking
    from deeprecs.models import get_model_class
    from deeprecs.pipeline import TrainSpec, evaluation_train, load_data, prepare_split
    from deeprecs.pipeline.data import load_features_of

    with_features, item_ids = LIGHTFM_MODES[mode]
    spec = TrainSpec(model="fm", data="ml-100k", split=split, seed=0, positive=4.0, features=with_features)
    ds = load_data(spec)
    features = load_features_of(spec, ds, get_model_class("fm"))
    sp = prepare_split(spec, ds, "ranking")
    train, valid, eval_train, test = sp.train, sp.valid, evaluation_train(sp), sp.test
    cold = train.item_counts() == 0
    cold = cold if split.startswith("cold-items") and cold.any() else None
    disliked = None if sp.dislikes is None else sp.dislikes.tocsr()
    user_x = lightfm_features(features.users, train.n_users, ids=True)
    item_x = lightfm_features(features.items, train.n_items, ids=item_ids)
    score_x = item_x
    if cold is not None and item_ids and features.items is not None:  # cold items scored without their id columns
        score_x = lightfm_features(features.items, train.n_items, ids=~cold)

    def metrics_of(scores, part, known):  # noqa: ANN001, ANN202
        return evaluate_ranking(dislikes_last(lambda users: scores[users], disliked), known, part, ks=(10, 20), candidates=cold)

    def validate(scores) -> float:  # noqa: ANN001
        return metrics_of(scores, valid, train)["auc"]

    best = lightfm_features_tuned(train.tocsr().tocoo().copy(), user_x, item_x, validate, score_x,
                                  max_epochs=10 if quick else 50, components=(32,) if quick else (32, 64))
    t0 = time.perf_counter()
    scores = best["scores"]
    out = {f"cold_{k}" if cold is not None else k: v for k, v in metrics_of(scores, test, eval_train).items()
           if k in ("auc", "ndcg@10", "recall@20")}
    if cold is not None:
        out["auc"] = evaluate_ranking(dislikes_last(lambda users: scores[users], disliked), eval_train, test, ks=(10,))["auc"]
    return {**out, "eval_seconds": time.perf_counter() - t0, "fit_seconds": best["fit_seconds"], "valid": best["valid"],
            "tuning_seconds": best["tuning_seconds"], "chosen": best["params"], "epochs": best["params"]["epochs"],
            "tried": best["tried"]}


def cold_users_rows(threads: int) -> list[dict]:
    """ML-1M ``cold-users:0.2`` (:mod:`cold_users`): popularity, popularity within the user's
    demographic group, our feature models; none where the NCF ML-1M copy is missing."""
    from cold_users import ML1M, group_popularity_row, ours_row

    if not (ML1M / "users.dat").is_file():
        log(f"[features] {ML1M} is missing: the ML-1M cold-users rows are skipped")
        return []
    plan = [("popularity", "group_popularity_row", ((10**9,),)), ("popularity within the demographic group", "group_popularity_row", ()),
            *((f"{model} (user features{''.join(f', {k} {v}' for k, v in options.items() if k != 'implicit')})", "ours_row",
               (model, options, COLD_USERS_TRAIN)) for model, options in COLD_USERS_MODELS)]
    rows = []
    for label, fn, args in plan:
        log(f"[features] ML-1M cold-users:0.2 {label} ...")
        row = {"split": "ml-1m cold-users:0.2", "library": "deeprecs" if fn == "ours_row" else "baseline", "model": label,
               **({"options": args[1]} if fn == "ours_row" else {}), **run_isolated(group_popularity_row if fn == "group_popularity_row" else ours_row, *args, threads=threads)}
        log(f"   auc {row.get('auc')}  ndcg@10 {row.get('ndcg@10')}  {row.get('error', '')}")
        rows.append(row)
    return rows


def _kept_note(rows: list[dict]) -> str:
    kept = sorted({r["measured"] for r in rows if r.get("measured")})
    n = sum(1 for r in rows if r.get("measured"))
    return f" {n} rows are kept from the run of {', '.join(kept)} (not rerun this time: `--only`)." if kept else ""


def render(payload: dict) -> str:
    info, rows = payload["machine"], payload["rows"]
    ratings = [r for r in rows if r["split"] == "canonical:u1"]
    cold = [r for r in rows if r["split"] == "cold-items:0.2"]
    warm = [r for r in rows if r["split"] == "canonical:ua"]
    cold_users = [r for r in rows if r["split"] == "ml-1m cold-users:0.2"]
    md = ["## Side information (ML-100K; ML-1M for cold users)", "", f"Machine: {info.get('cpu', '')}, {info['cpus']} CPUs, {payload.get('threads', 1)} thread(s) "
          f"per row, {info['date']}; shared with other jobs while measured, so times are noisy (`cpu_seconds`: the process's own CPU time)."
          + _kept_note(rows), "",
          "### Ratings, canonical u1 (RMSE; targets: fm <= 0.895, fit <= 20 s)", "",
          markdown_table(ratings, ["library", "model", "rmse", "mae", "fit_seconds", "cpu_seconds", "epochs"]),
          "Features (ours and myFM's): users " + str(ratings[0].get("user_features")) + "; items "
          + str(ratings[0].get("item_features")).replace("|", "\\|") + "; fm also has the users' rated items and the items' raters as "
          "fields. myFM: rank 10, 200 Gibbs samples, on the whole train part (it needs no validation part).", "",
          "### Cold items: cold-items:0.2, seed 0, positives >= 4 (per-user AUC among the cold items; target >= 0.76)", "",
          markdown_table(cold, ["library", "model", "cold_auc", "cold_ndcg@10", "cold_recall@20", "auc", "fit_seconds", "epochs", "chosen"]),
          f"fm's and hybrid-mf's options here: {COLD_OPTIONS} (the users' rated items as a field; item ids dropped half the time "
          "in training); the triplet models' defaults. LightFM (`rectools-lightfm`): users by id + demographics, items by id + "
          "genres and year (ids + features) or by genres and year alone (features only), rows scaled to sum 1; no_components "
          "(32, 64) x loss (WARP, BPR) x epochs (every 5 up to 50) chosen on the validation part's cold items; a cold item is "
          "scored by its features alone (its id column never saw a positive).", "",
          "### Hybrid models against their id-only selves: canonical:ua, positives >= 4 (AUC; targets: deep-triplet with features "
          ">= 0.950, none below its id-only self by more than 0.002)", "",
          markdown_table(warm, ["library", "model", "auc", "ndcg@10", "fit_seconds", "epochs", "chosen"])]
    if cold_users:
        md += ["", "### Cold users: ML-1M (the NCF copy, train + test pairs), cold-users:0.2, seed 0 (target: beat popularity within the "
               "user's demographic group)", "",
               markdown_table(cold_users, ["library", "model", "auc", "hr@10", "ndcg@10", "n_users_evaluated", "valid_auc", "fit_seconds",
                                           "cpu_seconds", "epochs", "options", "chosen"]),
               "Every interaction of a fifth of the users in test (their per-user AUC, HR@10, NDCG@10 over every item), of another "
               "twentieth in validation; the users' demographics (age, gender, occupation, zip prefix) as features; the items have "
               "none (the copy's item ids do not map back to MovieIDs). Group popularity: items ranked by their share among the train "
               "users of the user's (age, gender, occupation) group, then (age, gender), gender, everyone where a group has fewer "
               "than `min_users` train users (chosen on the validation users). Ours: " + str(COLD_USERS_TRAIN) + "."]
    return "\n".join(md)


def kept_rows(new: list[dict]) -> list[dict]:
    """results/features.json's rows with each row run again (same split, library, model) replaced in
    place; rows it did not have come last. A row kept from before says when (``measured``)."""
    import json

    from common import RESULTS

    old = json.loads((RESULTS / "features.json").read_text())
    fresh = {(r["split"], r["library"], r["model"]): r for r in new}
    if len(fresh) != len(new):
        raise ValueError("two new rows share a split, library and model: give them distinct labels")
    when = old["machine"]["date"]
    merged = [fresh.pop((r["split"], r["library"], r["model"]), None) or {"measured": when, **r} for r in old["rows"]]
    return merged + list(fresh.values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two epochs, 20 samples, one row per split and model family: checks that they run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--collect-only", action="store_true", help="render results/features.json again without running")
    ap.add_argument("--only", default="", help="run only these (comma list): ours, ours:SPLIT (e.g. ours:canonical:u1), lightfm, "
                    "cold-users, myfm; the rows kept from results/features.json are the others (full run only)")
    args = ap.parse_args(argv)
    only = [w.strip() for w in args.only.split(",") if w.strip()]

    def wanted(group: str, split: str | None = None) -> bool:
        return not only or group in only or (split is not None and f"{group}:{split}" in only)

    if args.collect_only:
        import json

        from common import RESULTS

        payload = json.loads((RESULTS / "features.json").read_text())
        write_results("features", payload, render(payload))
        return 0
    rows: list[dict] = []
    plan = [("canonical:u1", "fm", True, {}, None), ("canonical:u1", "fm", False, {}, None),
            ("cold-items:0.2", "fm", True, COLD_OPTIONS, 4.0), ("cold-items:0.2", "fm", False, COLD_OPTIONS, 4.0),
            ("cold-items:0.2", "hybrid-mf", True, COLD_OPTIONS, 4.0), ("cold-items:0.2", "deep-triplet", True, {}, 4.0),
            ("cold-items:0.2", "triplet", True, {}, 4.0)]
    plan += [("canonical:ua", model, features, {}, 4.0) for model in ("deep-triplet", "triplet", "fm", "hybrid-mf", "two-tower")
             for features in (True, False)]
    if args.quick:  # a smoke test of every split and model family, not every pair (CI's time)
        plan = [plan[0], plan[2], plan[4], plan[7], plan[9]]
    for split, model, features, options, positive in plan:
        if not wanted("ours", split):
            continue
        label = f"{model} ({'features' if features else 'ids only'})"
        log(f"[features] {split} {label} ...")
        row = {"split": split, "library": "deeprecs", "model": label, "options": options,
               **run_isolated(ours, split, model, features, options, positive, args.quick, threads=args.threads)}
        log(f"   {row.get('rmse') or row.get('cold_auc')}  fit {row.get('fit_seconds')}  {row.get('error', '')}")
        rows.append(row)
    if args.quick or not wanted("lightfm"):
        pass  # the peers run in the full benchmark only (CI's time)
    elif installed("lightfm"):
        for split, mode in LIGHTFM_PLAN:
            label = f"LightFM ({mode})"
            log(f"[features] {split} {label} ...")
            row = {"split": split, "library": "lightfm", "model": label, **run_isolated(lightfm_row, split, mode, False, threads=args.threads)}
            log(f"   {row.get('cold_auc') or row.get('auc')}  chosen {row.get('chosen')}  {row.get('error', '')}")
            rows.append(row)
    else:
        log("lightfm is not installed (pip install rectools-lightfm==1.17.3): its rows are skipped")
    if not args.quick and wanted("cold-users"):
        rows += cold_users_rows(args.threads)
    _with_pkg_resources()
    if not wanted("myfm"):
        pass
    elif installed("myfm"):
        for use_features in (True, False):
            label = f"myFM rank 10 ({'features' if use_features else 'ids only'})"
            log(f"[features] canonical:u1 {label} ...")
            row = {"split": "canonical:u1", "library": "myfm", "model": label,
                   **run_isolated(myfm_row, use_features, args.quick, threads=args.threads)}
            log(f"   {row.get('rmse')}  fit {row.get('fit_seconds')}  {row.get('error', '')}")
            rows.append(row)
    else:
        log("myfm is not installed (pip install myfm==0.4.0): its rows are skipped")
    if only and not args.quick:
        rows = kept_rows(rows)
    payload = {"machine": machine(), "threads": args.threads, "targets": TARGETS, "rows": rows}
    md = render(payload)
    write_results("features-quick" if args.quick else "features", payload, md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
