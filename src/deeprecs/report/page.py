"""``build_report``: one self-contained HTML page comparing run directories.

Sections: runs (what each one is), metrics table (best per column highlighted), training
curves, main metric vs fit time, embedding distributions, item map. A run that lacks what a
section needs (item vectors, titles, genres, epochs) gets a note there instead of a figure.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from deeprecs import __version__
from deeprecs.report import figures
from deeprecs.report import html as h
from deeprecs.report.projection import MAX_NONLINEAR, check_method, project, titles
from deeprecs.report.run_info import RunInfo, best_values, direction, gather, metric_columns

N_LABELS = 15  # most popular titles labelled on the item map
N_BOX_DIMS = 16  # dimensions shown in the box plots (the describe() table has all)


def runs_section(runs: list[RunInfo]) -> str:
    rows = []
    for r in runs:
        train = r.config.get("train") or {}
        options = {k: v for k, v in (r.config.get("model_config") or {}).items() if k not in ("n_users", "n_items")}
        rows.append([r.name, r.config.get("preset") or r.config.get("model"), r.task, r.config.get("loss"),
                     r.config.get("data"), r.config.get("split"), r.config.get("seed"),
                     f"{r.metrics.get('epochs', '?')} / {train.get('epochs', '?')}", train.get("lr"),
                     None if r.embeddings is None else r.embeddings.shape[1],
                     ", ".join(f"{k}={v}" for k, v in options.items()), str(r.path)])
    header = ["run", "model", "task", "loss", "data", "split", "seed", "epochs run / max", "lr", "item dim", "model options", "path"]
    return f'<div class="card scroll">{h.table(header, rows, text_cols=len(header), wrap=(header.index("model options"),))}</div>'


def metrics_section(runs: list[RunInfo]) -> str:
    columns = metric_columns(runs)
    if not columns:
        return h.note("No run has test metrics (metrics.json is empty).")
    best = best_values(runs, columns)
    rows = [[r.name, *(r.metrics.get(c) for c in columns)] for r in runs]
    marks = [[False] + [c in best and r.metrics.get(c) == best[c] for c in columns] for r in runs]
    header = ["run"] + [c + {1: " ↑", -1: " ↓", 0: ""}[direction(c)] for c in columns]
    legend = "↑ higher is better, ↓ lower is better; the best value of each such column (with two or more runs) is highlighted."
    return f'<div class="card scroll">{h.table(header, rows, marks)}</div><p class="caption">{h.esc(legend)}</p>'


def curves_section(runs: list[RunInfo]) -> str:
    png = figures.loss_curves(runs)
    missing = [r.name for r in runs if not r.history.get("epochs")]
    parts = [] if png is None else [f'<div class="card">{h.img(png, "training loss and validation metric per epoch")}</div>']
    if missing:
        parts.append(h.note(f"No training epochs recorded for: {', '.join(missing)} (nothing was trained, or no history.json)."))
    return "\n".join(parts)


def scatter_section(runs: list[RunInfo]) -> str:
    png = figures.metric_scatter(runs)
    missing = [r.name for r in runs if not r.main_metric or "fit_seconds" not in r.metrics]
    parts = [] if png is None else [f'<div class="card">{h.img(png, "main test metric against fit time")}</div>']
    if missing:
        parts.append(h.note(f"No main metric (rmse, auc, ndcg@10 or hr@10) or fit time for: {', '.join(missing)}."))
    return "\n".join(parts)


def tuning_section(runs: list[RunInfo]) -> str:
    tuned = [r for r in runs if r.tuning and any(t.get("value") is not None for t in r.tuning.get("trials", []))]
    if not tuned:
        return h.note("No run here was made by `deeprecs tune` (no tuning.json).")
    parts = []
    for r in tuned:
        t, best = r.tuning, r.tuning["best"]
        values = {**best["model_options"], **best["train_options"]}
        chosen = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
        caption = (f"{r.name}: {len(t['trials'])} trials in {t.get('seconds')} s; best {t['metric']} {best['value']:.4f} "
                   f"at trial {best['number']}: {chosen}. Train it again: {t.get('command', '')}")
        parts.append(f'<div class="card">{h.img(figures.tuning_trials(r), f"the trials of {r.name}")}</div>')
        parts.append(f'<p class="caption">{h.esc(caption)}</p>')
    return "\n".join(parts)


def embeddings_section(runs: list[RunInfo]) -> str:
    parts = []
    for r in runs:
        parts.append(f"<h3>{h.esc(r.label)}</h3>")
        if r.embeddings is None:
            parts.append(h.note(f"{r.name}: this model has no item embeddings to describe."))
            continue
        frame = pd.DataFrame(r.embeddings, columns=[f"dim_{j}" for j in range(r.embeddings.shape[1])])
        desc = frame.describe().T
        desc["count"] = desc["count"].astype(int)
        rows = [[name, *row] for name, row in zip(desc.index, desc.itertuples(index=False))]
        title = f"{r.name}: {r.embeddings.shape[0]:,} items x {r.embeddings.shape[1]} dimensions"
        box = figures.embedding_boxplot(r.embeddings, N_BOX_DIMS, title)
        parts.append(f'<div class="grid"><div class="card scroll">{h.table(["dimension", *desc.columns], rows)}</div>'
                     f'<div class="card">{h.img(box, f"box plots of the first {N_BOX_DIMS} embedding dimensions of {r.name}")}</div></div>')
    return "\n".join(parts)


def map_one(r: RunInfo, method: str) -> str:
    """The 2-D item map of one run, or a note saying why there is none."""
    if r.embeddings is None:
        return h.note(f"{r.name}: this model has no item embeddings, so there is no item map.")
    notes = []
    keep = np.flatnonzero(r.item_counts > 0)  # items never trained on sit at their initial values
    if len(keep) < 3:
        return h.note(f"{r.name}: fewer than 3 items have training data; nothing to map.")
    if method != "pca" and len(keep) > MAX_NONLINEAR:
        keep = keep[np.argsort(-r.item_counts[keep], kind="stable")[:MAX_NONLINEAR]]
        notes.append(f"{method} on the {MAX_NONLINEAR:,} most popular items only.")
    coords, axis = project(r.embeddings[keep], method, seed=int(r.config.get("seed") or 0))
    ids = r.item_ids[keep]
    genres = None if r.genres is None else r.genres[keep]
    names = titles(r.items, ids)
    if genres is None:
        notes.append("No genres in this run's item data or item features: points are not coloured.")
    if names is None:
        notes.append("No titles in this run's item data: items are labelled by id.")
    popular = np.argsort(-r.item_counts[keep], kind="stable")[:N_LABELS]
    labels = [(int(j), (names[j] if names is not None and names[j] else str(ids[j]))) for j in popular]
    title = f"{r.name}: {len(keep):,} items, {N_LABELS} most popular labelled"
    png = figures.item_map(coords, genres, labels, axis, title)
    return "\n".join([f'<div class="card">{h.img(png, f"2-D map of the item embeddings of {r.name}")}</div>',
                      *(h.note(f"{r.name}: {n}") for n in notes)])


def map_section(runs: list[RunInfo], method: str) -> str:
    return "\n".join(f"<h3>{h.esc(r.label)}</h3>\n{map_one(r, method)}" for r in runs)


def build_report(paths: list[str | Path], out: str | Path, *, method: str = "pca", title: str | None = None) -> Path:
    """Render the comparison page of the run directories ``paths`` to ``out`` (atomically)."""
    check_method(method)
    runs = gather(paths)
    title = title or ("deeprecs report: " + ", ".join(r.name for r in runs))
    meta = (f"{len(runs)} run{'s' * (len(runs) != 1)} · generated {h.esc(time.strftime('%Y-%m-%d %H:%M:%S'))} "
            f"by deeprecs {h.esc(__version__)} · item map: {h.esc(method)}")
    sections = [
        ("runs", "Runs", runs_section(runs), "What each run is: model, task, loss, data, split and main options."),
        ("metrics", "Metrics", metrics_section(runs), "Test metrics from each run's metrics.json (one row per run)."),
        ("curves", "Training curves", curves_section(runs), "Per-epoch training loss and validation metric of every run; the star marks the epoch whose weights were kept."),
        ("scatter", "Metric vs fit time", scatter_section(runs), "The main test metric (rmse for rating runs; auc, ndcg@10 or hr@10 for ranking runs) against training time."),
        ("tuning", "Tuning", tuning_section(runs), "Runs made by `deeprecs tune`: each trial's validation metric, the best so far, and the metric against each searched option."),
        ("embeddings", "Embedding distributions", embeddings_section(runs), "pandas describe() of every item-embedding dimension, and box plots of the first dimensions."),
        ("item-map", "Item map", map_section(runs, method), "Item embeddings in two dimensions, coloured by primary genre (the first listed), with the most popular titles (most training interactions) labelled."),
    ]
    body = [(anchor, name, h.section(anchor, name, content, intro)) for anchor, name, content, intro in sections]
    return h.write_atomic(h.page(title, meta, body), out)
