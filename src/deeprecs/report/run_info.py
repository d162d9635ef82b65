"""What a report needs from each run directory, gathered once: names, metrics, curves, vectors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from deeprecs.plots import higher_is_better
from deeprecs.report.projection import feature_genres, primary_genres

#: the metric a run is judged by, in order of preference, per task
MAIN_METRICS = {"rating": ("rmse",), "ranking": ("auc", "ndcg@10", "hr@10")}
#: metrics without a better direction (sizes, counts, bookkeeping): never highlighted
NEUTRAL = ("epochs", "n_parameters", "n_test", "split_")
LOWER_BETTER = ("rmse", "mae", "mae_rounded", "fit_seconds", "eval_seconds")


@dataclass
class RunInfo:
    """One run as the report sees it. ``embeddings`` is ``(n_items, d)`` or ``None``."""

    name: str
    path: Path
    config: dict
    metrics: dict
    history: dict
    embeddings: np.ndarray | None
    item_ids: np.ndarray
    item_counts: np.ndarray  # (n_items,) training interactions per item
    items: pd.DataFrame | None  # side data indexed by raw item id (title, year, genres)
    tuning: dict | None = None  # tuning.json of a run made by ``deeprecs tune``
    #: ``(n_items,)`` each item's primary genre (``""``: none), from ``items`` or else the run's item
    #: feature table (a ``genre``/``genres`` column); ``None``: no genres known
    genres: np.ndarray | None = None

    @property
    def task(self) -> str:
        return self.config.get("task", "")

    @property
    def label(self) -> str:
        """``name (model, task)`` for legends and headings."""
        return f"{self.name} ({self.config.get('preset') or self.config.get('model', '?')}, {self.task or '?'})"

    @property
    def main_metric(self) -> str | None:
        for key in MAIN_METRICS.get(self.task, ()) or (*MAIN_METRICS["rating"], *MAIN_METRICS["ranking"]):
            if isinstance(self.metrics.get(key), (int, float)):
                return key
        return None


def direction(metric: str) -> int:
    """``+1`` when higher is better, ``-1`` when lower is, ``0`` when neither (a count)."""
    if metric.startswith(NEUTRAL):
        return 0
    if metric in LOWER_BETTER or metric.endswith("_seconds"):
        return -1
    return 1 if higher_is_better(metric) else 0


def unique_names(paths: list[Path]) -> list[str]:
    """Short, distinct names: the folder name, with parent folders added until they differ."""
    paths = [p.resolve() for p in paths]
    depth = [1] * len(paths)
    for _ in range(8):
        names = ["/".join(p.parts[-d:]) for p, d in zip(paths, depth)]
        clashes = {n for n in names if names.count(n) > 1}
        if not clashes:
            return names
        depth = [d + 1 if n in clashes else d for n, d in zip(names, depth)]
    return [str(p) for p in paths]


def gather(paths: list[str | Path]) -> list[RunInfo]:
    """Load every run (no pickle); raises :class:`~deeprecs.errors.DeeprecsError` on a non-run."""
    from deeprecs.runs import load_run

    paths = [Path(p) for p in paths]
    infos = []
    for name, path in zip(unique_names(paths), paths):
        run = load_run(path)
        emb = run.model.item_embeddings()
        emb = None if emb is None else emb.detach().float().cpu().numpy()
        if emb is not None and (emb.ndim != 2 or emb.shape[0] != len(run.item_map) or emb.shape[1] == 0):
            emb = None  # not one vector per item: nothing to map
        tuning = json.loads((path / "tuning.json").read_text()) if (path / "tuning.json").is_file() else None
        ids = np.asarray(run.item_map.raw)
        genres = primary_genres(run.items, ids)
        if genres is None:
            genres = feature_genres(run.features.items, np.arange(len(ids)))
        infos.append(RunInfo(name, path, run.config, dict(run.metrics), dict(run.history), emb, ids, run.train.item_counts(),
                             run.items, tuning, genres))
    return infos


def metric_columns(runs: list[RunInfo]) -> list[str]:
    """Union of the runs' numeric metric keys: main metrics first, then the others with a better
    direction, then counts and bookkeeping (each group in order of appearance)."""
    seen: list[str] = []
    for run in runs:
        for key, value in run.metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in seen:
                seen.append(key)
    mains = [m for group in MAIN_METRICS.values() for m in group if m in seen]
    rest = [k for k in seen if k not in mains]
    return mains + [k for k in rest if direction(k)] + [k for k in rest if not direction(k)]


def best_values(runs: list[RunInfo], columns: list[str]) -> dict[str, float]:
    """The best value per column with a direction, where at least two runs have one."""
    best = {}
    for col in columns:
        sign = direction(col)
        values = [r.metrics[col] for r in runs if isinstance(r.metrics.get(col), (int, float))]
        if sign and len(values) >= 2:
            best[col] = max(values) if sign > 0 else min(values)
    return best
