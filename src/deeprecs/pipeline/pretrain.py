"""``--pretrain``: the trained runs a model starts from, checked to come from the same split and data.

The model itself decides what it takes from them (:meth:`~deeprecs.models.base.Recommender.warm_start`,
:meth:`~deeprecs.models.base.Recommender.pretrain_options`); this module only finds, checks and loads them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from deeprecs.data.interactions import Interactions
from deeprecs.errors import ConfigError
from deeprecs.models import get_model_class, warm_starting
from deeprecs.pipeline.spec import SPLIT_OPTIONS, TrainSpec
from deeprecs.runs import Run, load_run


def same_split_as_runs(spec: TrainSpec) -> None:
    """Refuse ``--pretrain`` runs trained on another split of the data: a run of another
    ``--seed`` (or ``--split``, ``--positive``, ...) has trained on items that are held out
    here, and validation (NeuMF's alpha, a blend's weights, early stopping) would reward it for
    remembering them. The runs' ``config.json`` say how they were split (read before any run
    is loaded or model fitted, so the error comes at once; :func:`load_runs` checks the ids)."""
    if spec.pretrain and not get_model_class(spec.model).pretrain_takes:
        raise ConfigError(f"--pretrain is for {'; '.join(warm_starting())}; {spec.model} does not start from trained runs")
    for path in spec.pretrain:
        file = Path(path) / "config.json"
        if not file.is_file():
            continue  # load_run says what is missing
        theirs = json.loads(file.read_text())
        for key, flag in SPLIT_OPTIONS.items():
            if key in theirs and theirs[key] != getattr(spec, key):
                *others, last = SPLIT_OPTIONS.values()
                raise ConfigError(f"pre-trained run {path} was trained with {flag} {theirs[key]}, this run has {flag} {getattr(spec, key)}: "
                                  "another split of the data, whose training part holds items held out here. Pre-train with the "
                                  f"same {', '.join(others)} and {last}")


def load_runs(paths: list[str], train: Interactions, device: torch.device) -> list[Run]:
    """The runs at ``paths``, on ``device``, each checked to have been trained on these ids."""
    runs = [load_run(p, device=device) for p in paths]
    for run in runs:
        if run.user_map != train.user_map or run.item_map != train.item_map:
            raise ConfigError(f"pre-trained run {run.path} was trained on other data (ids differ): use the same --data and --split")
    return runs


__all__ = ["load_runs", "same_split_as_runs"]
