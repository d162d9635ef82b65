"""NCF benchmark (issue 4): popularity, GMF, MLP, NeuMF (from scratch and pre-trained), MF (bce), EASE.

Leave-one-out with sampled negatives (PROTOCOLS.md) on the NCF paper's ML-1M split (the
authors' test negatives, evaluated as given, quirks counted) and on MovieLens 100K (``loo``
split, negatives sampled with the seed); full-ranking metrics beside. Every model runs with
its **default** options (chosen on the validation hold-out, never on test). Early stopping uses
validation only; test HR@10 is also computed after each epoch, for the "time to pass ALS's
0.723" column alone.

    python benchmarks/ncf.py [PREFIX] [--threads 2] [--quick] [--models gmf,mlp,...] [--datasets ...] [--merge]

ML-100K is fetched by the toolkit (cached under $DEEPRECS_HOME).

Writes ``benchmarks/results/ncf.json`` and ``ncf.md`` (``ncf-quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deeprecs.pipeline as pipeline  # noqa: E402
from common import installed, machine, run_isolated  # noqa: E402
from deeprecs.pipeline import TrainSpec, load_data, prepare_split, sampled_candidates  # noqa: E402
from deeprecs.training import fit  # noqa: E402

DEFAULT_PREFIX = str(Path(__file__).resolve().parents[2] / "shared/data/ncf-ml-1m/ml-1m")  # ../shared beside the repo
RESULTS = Path(__file__).parent / "results"
ALS_HR = 0.723  # the time-to-target threshold (ALS in the NCF paper's era, ML-1M)
#: NCF paper, Table 2 (64 predictive factors); iALS revisited (Rendle et al., RecSys 2022)
PAPER = {"neumf-pretrained": (0.730, 0.447), "neumf": (0.705, 0.426), "ials (Rendle 2022)": (0.722, 0.445)}
#: (row name, model, spec extras); neumf-pretrained uses this benchmark's gmf and mlp runs (-als: its als
#: and mlp runs), and the blend blends its ease, als and gmf runs (``blend --pretrain``: the fit seconds
#: of every run it rests on count in its, each once). Blend members chosen on validation (NDCG@10,
#: ncf-ml-1m / ML-100K loo): ease + als + gmf 0.6157 / 0.4467, + neumf-pretrained instead of gmf
#: 0.6155 / 0.4478, + neumf-pretrained-als 0.6146 / 0.4462; the gmf blend costs half the time (141 s against 265 s)
MODELS = [("popularity", "popularity", {}), ("gmf", "gmf", {}), ("mlp", "mlp", {}), ("neumf", "neumf", {}),
          ("neumf-pretrained", "neumf", {"pretrain": ["gmf", "mlp"]}), ("mf", "mf", {"loss": "bce", "task": "ranking"}),
          ("ease", "ease", {}), ("rp3beta", "rp3beta", {}), ("als", "als", {}),
          # NeuMF's GMF branch started from ALS vectors (a dot product too, calibrated to log-odds) instead of a GMF run
          ("neumf-pretrained-als", "neumf", {"pretrain": ["als", "mlp"]}),
          ("blend", "blend", {"pretrain": ["ease", "als", "gmf"]})]


def lineage(row: str) -> set[str]:
    """``row`` and every row its run is pre-trained from, transitively."""
    extras = {r: e for r, _, e in MODELS}.get(row, {})
    return {row}.union(*(lineage(p) for p in extras.get("pretrain", [])))


def fit_before(row: str, rows: dict) -> float:
    """The fit seconds of the runs ``row`` starts from, each run counted once (a blend of als and
    of a NeuMF pre-trained from als counts als once)."""
    extras = {r: e for r, _, e in MODELS}.get(row, {})
    below = set().union(*(lineage(p) for p in extras.get("pretrain", [])))
    return sum(rows.get(p, {}).get("fit_seconds_own") or 0.0 for p in below)


@contextmanager
def test_hr_per_epoch(test, negatives, log: list):
    """Record test HR@10 after every epoch (for time-to-target only; selection stays on validation)
    of the fit that validates; a refit on train + validation (no validator) is not recorded."""
    def fit_logging(model, task, cfg, *args, **kwargs):
        if (args[0] if args else kwargs.get("validate")) is None:
            return fit(model, task, cfg, *args, **kwargs)

        def on_epoch(row):
            t0 = time.perf_counter()
            log.append({"epoch": row["epoch"], "train_seconds": row["seconds"], "examples_per_s": row["examples_per_s"],
                        "test_hr@10": sampled_candidates(model, test, negatives)["hr@10"],
                        "callback_seconds": time.perf_counter() - t0})
            model.train()
        return fit(model, task, cfg, *args, on_epoch=on_epoch, **kwargs)

    with mock.patch.object(pipeline.context, "fit", fit_logging):
        yield


def run_model(row: str, model: str, extras: dict, data: str, split: str, threads: int, runs: Path, train_options: dict,
              before: float = 0.0) -> dict:
    """One of our rows (in a fresh process: ``run_isolated``); ``before``: the fit seconds of the
    runs it is pre-trained from (neumf-pretrained), counted in its fit time."""
    spec = TrainSpec(model=model, data=data, split=split, seed=0, task=extras.get("task"), loss=extras.get("loss"),
                     pretrain=[str(runs / p) for p in extras.get("pretrain", [])],
                     train_options={"threads": threads, **train_options})
    ds = load_data(spec)
    ref = prepare_split(spec, ds, "ranking")  # the same deterministic split train() makes
    epochs: list[dict] = []
    # a blend's members train epoch by epoch, but the blend itself exists only once its weights are fitted
    hook = nullcontext() if model == "blend" else test_hr_per_epoch(ref.test, ref.test_negatives, epochs)
    with hook:
        _, metrics, history, _, _ = pipeline.train(spec, out=runs / row, progress=False)
    callback = sum(e["callback_seconds"] for e in epochs)
    elapsed, to_target = before, None
    for e in epochs:
        elapsed += e["train_seconds"]
        if to_target is None and e["test_hr@10"] >= ALS_HR:
            to_target = {"seconds": round(elapsed, 1), "epoch": e["epoch"]}
    out = {k: metrics.get(k) for k in ("hr@10", "ndcg@10", "full_hr@10", "full_ndcg@10", "eval_seconds")}
    own = metrics["fit_seconds"] - callback  # includes closed-form fitting (EASE) done before the loop
    if to_target is None and metrics["hr@10"] >= ALS_HR:  # closed form, a blend, or there once refitted: all its fit seconds
        to_target = {"seconds": round(own + before, 1), "epoch": "refit" if epochs and metrics.get("refit") else "-"}
    out.update(fit_seconds=round(own + before, 1), fit_seconds_own=round(own, 1),
               examples_per_s=round(statistics.median(e["examples_per_s"] for e in epochs)) if epochs else None,
               threads=threads, epochs=len(history.epochs), best_epoch=history.best_epoch,
               valid_ndcg10=history.best_valid, time_to_als_hr=to_target, refit=metrics.get("refit"),
               test_hr_per_epoch=[round(e["test_hr@10"], 4) for e in epochs],
               quirks={k: v for k, v in metrics.items() if (k.startswith("quirk_") or k.startswith("split_")) and "_file_" not in k})
    return out


#: peers on the identical train part and candidates (implicit, lightfm: 64 factors, the libraries' other
#: defaults; cornac-neumf: the NCF paper's 8-factor NeuMF settings as Cornac runs them, pytorch backend)
PEERS = ["implicit-als", "lightfm-warp", "cornac-neumf"]
#: cornac-neumf epochs per dataset (the paper's 20; 0: not run). On ncf-ml-1m one epoch takes ~80-110 s here
#: (~65 % of it in Cornac's per-example Python negative-sampling loop): 20 epochs would be ~30 min, the
#: whole `make bench` budget, so that row is opt-in (`--cornac-ml1m-epochs 20`).
CORNAC_NEUMF_EPOCHS = {"ml-100k": 20, "ncf-ml-1m": 0}
CORNAC_NEUMF = {"num_factors": 8, "layers": [64, 32, 16, 8], "act_fn": "relu", "learner": "adam", "lr": 0.001,
                "batch_size": 256, "num_neg": 4}


def cornac_neumf_scores(train, epochs: int) -> torch.Tensor:
    """Cornac's NeuMF on our train part; dense (n_users, n_items) scores in OUR index space.

    Our (user, item) indices are Cornac's raw ids; Cornac's uid/iid maps bring its internal indices
    back to ours. Items (users) absent from the train part are unknown to Cornac and score -inf.
    """
    import numpy as np
    from cornac.data import Dataset
    from cornac.models import NeuMF

    triples = list(zip(train.users.tolist(), train.items.tolist(), [1.0] * len(train.users)))
    ds = Dataset.build(triples, fmt="UIR", seed=0)
    model = NeuMF(**CORNAC_NEUMF, num_epochs=epochs, backend="pytorch", verbose=False, seed=0)
    model.fit(ds)
    net = model.model.eval()
    items = torch.arange(ds.num_items, device=model.device)
    chunks = []
    with torch.no_grad():
        for start in range(0, ds.num_users, 256):
            users = torch.arange(start, min(start + 256, ds.num_users), device=model.device)
            out = net(users.repeat_interleave(len(items)), items.repeat(len(users)))
            chunks.append(out.view(len(users), len(items)).float().cpu())
    inner = torch.cat(chunks)  # (Cornac's users, Cornac's items)
    ours_u = torch.from_numpy(np.fromiter(ds.uid_map.keys(), dtype=np.int64, count=ds.num_users))
    ours_i = torch.from_numpy(np.fromiter(ds.iid_map.keys(), dtype=np.int64, count=ds.num_items))
    inv_u = torch.from_numpy(np.fromiter(ds.uid_map.values(), dtype=np.int64, count=ds.num_users))
    inv_i = torch.from_numpy(np.fromiter(ds.iid_map.values(), dtype=np.int64, count=ds.num_items))
    scores = torch.full((train.n_users, train.n_items), float("-inf"))
    scores[ours_u.unsqueeze(1), ours_i.unsqueeze(0)] = inner[inv_u.unsqueeze(1), inv_i.unsqueeze(0)]
    return scores


def run_peer(row: str, data: str, split: str, threads: int, cornac_epochs: int = 20, refit: bool = True) -> dict:
    """A peer library trained on the same train part as ours, tuned on the same validation
    hold-out (sampled NDCG@10, as ours), then, as ours are by default on these protocols, fitted
    again with the chosen setting on train + validation (``refit``); scored on test by our evaluation."""
    from common import ranking_parts
    from peers import implicit_refit, implicit_tuned, lightfm_refit, lightfm_tuned

    from deeprecs.evaluation.protocols import evaluate_sampled
    from deeprecs.pipeline import merge

    library = row.split("-")[0]
    train, valid, valid_neg, eval_train, test, test_neg = ranking_parts(data, split, None)

    def validate(scores) -> float:  # noqa: ANN001 - sampled NDCG@10, the validator our models use
        return evaluate_sampled(lambda users: scores[users], train, valid, valid_neg, ks=(10,))["ndcg@10"]

    if library == "implicit":
        best = implicit_tuned("als", train.tocsr(), validate, threads=threads, small=data.startswith("ncf"))
        epochs = 15  # ALS iterations (fixed; regularization and alpha tuned)
    elif library == "cornac":  # the paper's settings, not tuned (the issue's reference run)
        epochs = cornac_epochs
        t0 = time.perf_counter()
        scores = cornac_neumf_scores(train, epochs)
        best = {"scores": scores, "fit_seconds": time.perf_counter() - t0, "valid": validate(scores), "tuning_seconds": 0.0,
                "params": {"paper's 8-factor settings": True}}
    else:
        big = data.startswith("ncf")  # ~1 s an epoch on ML-1M: a smaller grid
        best = lightfm_tuned("warp", train.tocsr().tocoo(), validate, max_epochs=50 if big else 100, threads=threads,
                             learning_rates=(0.05,) if big else (0.05, 0.02), alphas=(0.0,) if big else (0.0, 1e-5))
        epochs = best["params"]["epochs"]
    scores, fit_seconds = best["scores"], best["fit_seconds"]
    if refit:
        full = merge(train, valid)
        if library == "implicit":
            again = implicit_refit("als", best["params"], full.tocsr(), threads)
        elif library == "cornac":
            t0 = time.perf_counter()
            again = {"scores": cornac_neumf_scores(full, epochs), "fit_seconds": time.perf_counter() - t0}
        else:
            again = lightfm_refit("warp", best["params"], full.tocsr().tocoo(), threads)
        scores, fit_seconds = again["scores"], fit_seconds + again["fit_seconds"]
    t0 = time.perf_counter()
    metrics = evaluate_sampled(lambda users: scores[users], eval_train, test, test_neg, ks=(10,))
    return {**{k: metrics[k] for k in ("hr@10", "ndcg@10", "full_hr@10", "full_ndcg@10")}, "eval_seconds": time.perf_counter() - t0,
            "fit_seconds": round(fit_seconds, 1), "fit_seconds_own": round(fit_seconds, 1), "examples_per_s": None, "refit": refit,
            "threads": threads, "epochs": epochs, "best_epoch": "-", "valid_ndcg10": best["valid"], "time_to_als_hr": None,
            "tuning_seconds": round(best["tuning_seconds"], 1), "chosen": best["params"],
            "test_hr_per_epoch": [], "quirks": {k: v for k, v in metrics.items() if k.startswith("quirk_")}}


def defaults() -> dict:
    from deeprecs.models import get_model_class

    out = {}
    for name, key in (("gmf", "ranking"), ("mlp", "ranking"), ("neumf", "ranking"), ("neumf", "ranking-pretrained"), ("mf", "ranking"),
                      ("ease", "ranking"), ("rp3beta", "ranking"), ("als", "ranking"), ("blend", "ranking")):
        cls = get_model_class(name)
        out[name if key == "ranking" else f"{name} ({key})"] = {"model": cls.model_defaults.get("ranking", {}), "train": cls.train_defaults.get(key, {})}
    return out


def targets(results: dict) -> list[tuple[str, str, str, str]]:
    """Issue 4's targets against the rows there are: ``(what, measured, target, met)``."""
    out = []

    def check(what: str, row: dict | None, target: str, ok) -> None:
        if row:
            value = f"{row['hr@10']:.4f} / {row['ndcg@10']:.4f} ({row['fit_seconds']} s)"
            out.append((what, value, target, "yes" if ok(row) else "NO"))

    ml1m = results["datasets"].get("ncf-ml-1m", {})
    ours = {k: v for k, v in ml1m.items() if k not in PEERS}
    for row, how in (("neumf-pretrained", "GMF + MLP runs, the paper's recipe"), ("neumf-pretrained-als", "ALS + MLP runs")):
        check(f"ncf-ml-1m: NeuMF with pre-training ({how})", ml1m.get(row), ">= 0.730 / 0.447",
              lambda r: r["hr@10"] >= 0.730 and r["ndcg@10"] >= 0.447)
    if ours:
        name, best = max(ours.items(), key=lambda kv: kv[1]["hr@10"])
        check(f"ncf-ml-1m: best of ours by HR@10 ({name})", best, ">= 0.740 / 0.455", lambda r: r["hr@10"] >= 0.740 and r["ndcg@10"] >= 0.455)
        slowest = max(ours.items(), key=lambda kv: kv[1]["fit_seconds"] or 0)
        out.append((f"ncf-ml-1m: slowest of ours ({slowest[0]}, pre-training included)", f"{slowest[1]['fit_seconds']} s", "<= 300 s",
                    "yes" if (slowest[1]["fit_seconds"] or 0) <= 300 else "NO"))
        passing = [(r["time_to_als_hr"]["seconds"], n) for n, r in ours.items() if r.get("time_to_als_hr")]
        out.append(("ncf-ml-1m: fastest of ours to HR@10 >= 0.723", f"{min(passing)[1]}: {min(passing)[0]} s" if passing else "none passes",
                    "report", "-"))
    check("ml-100k loo: NeuMF (sampled HR@10)", results["datasets"].get("ml-100k", {}).get("neumf"), "HR@10 >= 0.66", lambda r: r["hr@10"] >= 0.66)
    return out


def label_offsets(xs: dict, ys: dict, log_x: bool) -> dict:
    """Each point's label offset (points): above right, or below right where it and an earlier
    label above would overprint (at much the same height, within 4 % of the y range, one's text,
    about 1.1 % of the x range per letter, reaches the other's point)."""
    import math

    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    x = {n: fx(v) for n, v in xs.items()}
    span_x = (max(x.values()) - min(x.values())) or 1.0
    span_y = (max(ys.values()) - min(ys.values())) or 1.0
    placed, out = [], {}
    for n in xs:
        near = any(-0.011 * len(n) * span_x < x[n] - x[m] < 0.011 * len(m) * span_x and abs(ys[n] - ys[m]) < 0.04 * span_y
                   and out[m][1] > 0 for m in placed)
        out[n] = (3, -9) if near else (3, 2)
        placed.append(n)
    return out


def plot(results: dict, path: Path) -> None:
    """Per dataset: sampled HR@10 against fit seconds (ours filled, peers hollow; ALS's 0.723 dashed),
    and sampled against full-ranking HR@10 (the two protocols need not agree on the order)."""
    from deeprecs.plots import plt

    datasets = [d for d, rows in results["datasets"].items() if rows]
    if not datasets:
        return
    fig, axes = plt.subplots(2, len(datasets), figsize=(6.2 * len(datasets), 8.4), squeeze=False)
    for col, data in enumerate(datasets):
        every = results["datasets"][data]
        floor = max(r["hr@10"] for r in every.values()) - 0.06  # the contenders; weaker rows are listed, not drawn
        rows = {n: r for n, r in every.items() if r["hr@10"] >= floor}
        left_out = sorted(set(every) - set(rows))
        top, bottom = axes[0][col], axes[1][col]
        times = {n: max(r["fit_seconds"] or 0.0, 0.05) for n, r in rows.items()}
        hr = {n: r["hr@10"] for n, r in rows.items()}
        for ax, xs, log_x in ((top, times, True), (bottom, {n: r["full_hr@10"] for n, r in rows.items()}, False)):
            offsets = label_offsets(xs, hr, log_x)
            for name, r in rows.items():
                peer = name in PEERS
                style = {"marker": "o", "s": 36, "facecolors": "none" if peer else "tab:blue", "edgecolors": "tab:gray" if peer else "tab:blue"}
                ax.scatter(xs[name], hr[name], **style)
                ax.annotate(name, (xs[name], hr[name]), fontsize=7, xytext=offsets[name], textcoords="offset points")
        if data.startswith("ncf"):
            top.axhline(ALS_HR, color="tab:red", linestyle="--", linewidth=0.8, label=f"HR@10 {ALS_HR}")
            top.legend(loc="upper left", fontsize=8)
        top.set_xscale("log")
        if left_out:
            top.text(0.01, 0.01, f"not drawn (HR@10 < {floor:.2f}): {', '.join(left_out)}", transform=top.transAxes, fontsize=7,
                     color="tab:gray")
        top.set(title=f"{data}: quality against fit time", xlabel="fit seconds (log; pre-training included)", ylabel="sampled HR@10")
        bottom.set(title=f"{data}: sampled against full ranking", xlabel="full-ranking HR@10", ylabel="sampled HR@10")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_outputs(results: dict, stem: str) -> None:
    """``{stem}.json``, ``{stem}.md`` and ``{stem}.png`` under the results folder."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / f"{stem}.png")
    (RESULTS / f"{stem}.md").write_text(markdown(results, f"{stem}.png"))


def markdown(results: dict, figure: str | None = None) -> str:
    lines = ["# NCF benchmark (leave-one-out, 1 test item + 99 negatives; full ranking beside)", "",
             f"Threads: {results['threads']}; {results['machine']}. Every model with its default options; early stopping "
             "on the validation hold-out (one train item per user + 99 sampled negatives). Each row runs in its own process "
             "(peak MB is its own). Timings were taken on a shared machine: examples/s are per-epoch medians, and absolute "
             "seconds are noisy. `time vs best peer`: our fit seconds / the fastest peer's with HR@10 at least ours - 0.005.", ""]
    if results.get("note"):
        lines += [results["note"], ""]
    for data, rows in results["datasets"].items():
        about = "the NCF paper's split, the authors' test negatives" if data.startswith("ncf") else "`--split loo`, 99 negatives sampled with seed 0"
        lines += [f"## {data} ({about})", "", "| model | HR@10 | NDCG@10 | full HR@10 | full NDCG@10 | fit s | eval s | examples/s | epochs (best) "
                  "| peak MB | threads | time vs best peer | time to HR@10 >= 0.723 | paper HR / NDCG |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, r in rows.items():
            paper = PAPER.get(name) if data.startswith("ncf") else None
            target = "-" if not r["time_to_als_hr"] else f"{r['time_to_als_hr']['seconds']} s (epoch {r['time_to_als_hr']['epoch']})"
            fit_s = f"{r['fit_seconds']}" + (f" (own {r['fit_seconds_own']})" if r["fit_seconds"] != r["fit_seconds_own"] else "")
            peak = f"{r['peak_mb']:,.0f}" if r.get("peak_mb") else "-"
            ratio = r.get("time_vs_best_peer")
            lines.append(f"| {name} | {r['hr@10']:.4f} | {r['ndcg@10']:.4f} | {r['full_hr@10']:.4f} | {r['full_ndcg@10']:.4f} | {fit_s} | "
                         f"{r['eval_seconds']:.1f} | {r['examples_per_s'] or '-'} | {r['epochs']} ({r['best_epoch']}) | {peak} | {r.get('threads', '-')} | "
                         f"{'-' if ratio is None else ratio} | {target} | {'-' if not paper else f'{paper[0]:.3f} / {paper[1]:.3f}'} |")
        if data.startswith("ncf"):
            lines.append(f"| ials (Rendle 2022, published) | {PAPER['ials (Rendle 2022)'][0]:.3f} | {PAPER['ials (Rendle 2022)'][1]:.3f} | | | | | | | | | | | |")
        chosen = [f"{n}: {r['chosen']} (search {r.get('tuning_seconds', '-')} s)" for n, r in rows.items() if r.get("chosen")]
        if chosen:
            lines += ["", "Peers tuned on the same validation hold-out as ours (sampled NDCG@10; fit s = the chosen setting's fit"
                      + (", and its refit on train + validation, as ours" if any(r.get("refit") for r in rows.values()) else "") + "): "
                      + "; ".join(chosen) + "."]
        quirks = next(iter(rows.values()))["quirks"]
        lines += ["", "Quirks of the test file (rows affected): " + ", ".join(f"{k} = {v}" for k, v in quirks.items()), ""]
    if figure:
        lines += [f"![quality against time, and sampled against full ranking]({figure})", ""]
    lines += ["## Targets (issue 4)", "", "| what | measured (HR@10 / NDCG@10) | target | met |", "|---|---|---|---|"]
    lines += [f"| {w} | {v} | {t} | {m} |" for w, v, t, m in targets(results)] + [""]
    if results.get("defaults"):
        lines += ["## Defaults used (ranking; `model_defaults` / `train_defaults` of each model class)", ""]
        lines += [f"- **{name}**: model {d['model']}; training {d['train']}" for name, d in results["defaults"].items()] + [""]
    lines += ["neumf-pretrained fit s include the gmf and mlp runs it starts from, neumf-pretrained-als's its als and mlp runs "
              "(its own fine-tuning in brackets; the fusion weight alpha is chosen on validation, see the run's config). "
              "The als row is our own implicit ALS (conjugate gradient, torch), not the implicit library's. "
              "The blend row blends this benchmark's ease, als and gmf runs as they are (`blend --pretrain`, "
              "combined on validation: by default a small network over their standardised scores, the item's popularity and the "
              "user's activity, trained on the validation candidates and kept only where 5-fold cross-validation over the validation "
              "users puts it above the linear blend, else simplex weights; the defaults above are those of a blend that trains its own members); its fit s "
              "count every run it rests on once. "
              "Refit (the default on these protocols, ours and the peers alike): once validation has chosen the settings and "
              "the epochs, each model is fitted again on train + validation; fit s include both fits, epochs are the "
              "validating fit's (the refit trains for its best one), and the full-ranking candidates stay the protocol's "
              "(validation items included). "
              "Time to HR@10 >= 0.723: training seconds (validation excluded) until test HR@10 first reached ALS's 0.723, "
              "measured per epoch of the validating fit, for this column only (closed-form models and the blend: their fit seconds, once fitted). "
              "Cornac's NeuMF (the paper's 8-factor settings, 20 epochs) runs on ml-100k; on ncf-ml-1m only with "
              "`--cornac-ml1m-epochs N` (its per-example negative sampling makes an epoch ~80-110 s here, so the paper's "
              "20 would take ~30 min: the issue measured 0.667 / 0.394 in 14 minutes).", ""]
    return "\n".join(lines)


FAILED: set[str] = set()


def _say(label: str, row: str, r: dict) -> bool:
    """Print a row; ``False`` (and the row noted as failed) when it raised."""
    if "error" in r:
        print(f"{label:10s} {row:17s} FAILED: {r['error']}\n{r.get('traceback', '')}", flush=True)
        FAILED.add(row)
        return False
    print(f"{label:10s} {row:17s} HR@10 {r['hr@10']:.4f}  NDCG@10 {r['ndcg@10']:.4f}  full HR@10 {r['full_hr@10']:.4f}  "
          f"fit {r['fit_seconds']:.1f} s  eval {r['eval_seconds']:.1f} s  {r['examples_per_s'] or 0:,} ex/s  epochs {r['epochs']}  "
          f"peak {r.get('peak_mb', 0):,.0f} MB", flush=True)
    return True


def ratios(rows: dict) -> None:
    """``time_vs_best_peer`` on each of our rows: our fit seconds / the fastest peer's whose HR@10 is
    at least ours - 0.005 (comparable quality); ``None`` when no peer is that good."""
    peers = [r for name, r in rows.items() if name in PEERS]
    for name, r in rows.items():
        if name in PEERS:
            continue
        good = [p["fit_seconds"] for p in peers if p["hr@10"] >= r["hr@10"] - 0.005 and p["fit_seconds"]]
        r["time_vs_best_peer"] = round(r["fit_seconds"] / min(good), 2) if good else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("prefix", nargs="?", default=DEFAULT_PREFIX, help="NCF files prefix (.../ml-1m)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="ml-100k only, 2 epochs, neumf only pre-trained (from gmf and mlp, from als and mlp): a smoke test of about a minute (idle machine)")
    ap.add_argument("--models", default=",".join([*(r for r, _, _ in MODELS), *PEERS]),
                    help="comma list of rows to run (neumf-pretrained needs gmf and mlp; peers run when installed)")
    ap.add_argument("--datasets", default="ncf-ml-1m,ml-100k", help="comma list: ncf-ml-1m, ml-100k")
    ap.add_argument("--cornac-ml1m-epochs", type=int, default=CORNAC_NEUMF_EPOCHS["ncf-ml-1m"],
                    help="epochs of Cornac's NeuMF on ncf-ml-1m (0: skip it, the default; the paper's 20 take ~30 min here)")
    ap.add_argument("--runs-dir", default=None, help="where the trained runs go (default: a temporary folder)")
    ap.add_argument("--merge", action="store_true", help="update the rows of an existing results file instead of replacing it")
    ap.add_argument("--render", action="store_true", help="only rewrite the Markdown from the JSON results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    CORNAC_NEUMF_EPOCHS["ncf-ml-1m"] = args.cornac_ml1m_epochs
    if args.render:
        path = RESULTS / ("ncf-quick.json" if args.quick else "ncf.json")
        results = {**json.loads(path.read_text()), "defaults": defaults()}  # a "note" in the JSON is kept
        for rows in results["datasets"].values():
            ratios(rows)
        write_outputs(results, path.stem)
        return
    every = {"ncf-ml-1m": (f"ncf:{args.prefix}", "fixed"), "ml-100k": ("ml-100k", "loo")}
    names = ["ml-100k"] if args.quick else args.datasets.split(",")
    train_options = {"epochs": 2} if args.quick else {}
    # quick: no NeuMF from scratch (the pre-trained ones and the blend stay), to stay a smoke test
    wanted = [m for m in args.models.split(",") if not (args.quick and m == "neumf")]
    stem = "ncf-quick" if args.quick else "ncf"
    path = RESULTS / f"{stem}.json"
    results = json.loads(path.read_text()) if args.merge and path.is_file() else {"datasets": {}}
    results.update(threads=args.threads, machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
                   torch=torch.__version__, quick=args.quick, defaults=defaults(), run=machine())
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ncf-bench-") as tmp:
        for label in names:
            data, split = every[label]
            rows = {}
            for row, model, extras in MODELS:
                if row not in wanted:
                    continue
                runs = Path(args.runs_dir or tmp) / label
                before = fit_before(row, rows)
                r = run_isolated(run_model, row, model, extras, data, split, args.threads, runs, train_options, before, threads=args.threads)
                if _say(label, row, r):
                    rows[row] = r
            for row in PEERS:
                cornac_epochs = CORNAC_NEUMF_EPOCHS[label]
                if row in wanted and not args.quick and installed(row.split("-")[0]) and not (row == "cornac-neumf" and not cornac_epochs):
                    r = run_isolated(run_peer, row, data, split, args.threads, cornac_epochs, threads=args.threads)
                    if _say(label, row, r):
                        rows[row] = r
            failed += [f"{label}/{row}" for row in wanted if row in FAILED]
            FAILED.clear()
            if args.merge and path.is_file():  # another chunk may have written meanwhile
                results["datasets"] = json.loads(path.read_text()).get("datasets", {})
            merged = {**results["datasets"].get(label, {}), **rows}
            order = [r for r, _, _ in MODELS] + PEERS
            results["datasets"][label] = {r: merged[r] for r in order if r in merged}
            ratios(results["datasets"][label])  # over the merged rows: peers of an earlier --merge chunk count
            write_outputs(results, stem)
    print(f"wrote {path}, {stem}.md and {stem}.png")
    if failed:
        raise SystemExit(f"failed rows: {', '.join(failed)}")


if __name__ == "__main__":
    main()
