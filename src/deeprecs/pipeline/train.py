"""``train()``: from a :class:`~deeprecs.pipeline.spec.TrainSpec` to a trained, evaluated, saved run.

load -> task -> split -> runs to start from -> build (data fitted, warm start) -> choices on
validation -> fit -> forget cold ids -> refit -> evaluate -> run directory. Each step lives in its
own module of this package; the model owns what is special about it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from deeprecs import distributed
from deeprecs.data.dataset import Dataset
from deeprecs.devices import resolve_device
from deeprecs.data.features import Features
from deeprecs.models import get_model_class
from deeprecs.models.base import reads_features
from deeprecs.pipeline.context import Context, forget_cold
from deeprecs.pipeline.data import (check_inputs, check_recency, evaluation_train, has_validation, holds_cold_items, load_data,
                                    load_features_of, prepare_split, resolve_task, with_validation_in_train)
from deeprecs.pipeline.pretrain import load_runs, same_split_as_runs
from deeprecs.pipeline.refit import refit, refit_epochs, refitting
from deeprecs.pipeline.scoring import evaluate
from deeprecs.pipeline.selection import choose_on_validation
from deeprecs.pipeline.spec import TrainSpec
from deeprecs.training import seed_everything

log = logging.getLogger("deeprecs")


def setup(ctx: Context):  # noqa: ANN201 - Recommender
    """The run's model before training: built on the device with its data fitted (closed-form
    models such as EASE and ALS fit here), started from the ``--pretrain`` runs, its validation
    grid chosen."""
    model = ctx.build(ctx.spec.model)
    if ctx.runs():
        model.warm_start(ctx.runs(), ctx)
    return choose_on_validation(model, ctx)


def features_used(features: Features) -> dict:
    """``metrics.json``'s account of the features: each side's columns (``none``: no features) and
    what aligning its table to the ids found."""
    out = {}
    for side, table in (("user", features.users), ("item", features.items)):
        out[f"{side}_features"] = ",".join(table.report["columns"]) if table is not None else "none"
        if table is not None:
            out[f"{side}_feature_rows_not_in_interactions"] = table.report["rows_not_in_interactions"]
            out[f"{side}_feature_ids_without_row"] = table.report["ids_without_row"]
    return out


def train(spec: TrainSpec, out: str | Path | None = None, progress: bool = True, dataset: Dataset | None = None,
          extras: dict[str, dict] | None = None):
    """Run the whole pipeline; returns ``(model, metrics, history, split, dataset)`` and writes
    the run directory when ``out`` is given. Under ``torchrun`` (:mod:`deeprecs.distributed`) every
    rank trains its shard; rank 0 alone evaluates and writes (the others return empty metrics). ``dataset``: use this one instead of loading
    ``spec.data``; ``extras``: more JSON files for the run directory (``{name: content}``)."""
    device = distributed.setup(resolve_device(spec.device))  # several ranks (torchrun): join their group
    model_cls = get_model_class(spec.model)
    same_split_as_runs(spec)
    ds = dataset if dataset is not None else load_data(spec)
    check_inputs(model_cls, ds)
    features = load_features_of(spec, ds, model_cls)
    task = resolve_task(spec, ds, model_cls.tasks)
    split = prepare_split(spec, ds, task)
    check_recency(spec.train_options.get("recency", 0), split, spec.data)
    runs = load_runs(spec.pretrain, split.train, device) if spec.pretrain else []
    ctx = Context(spec, ds, split, task, device, progress, pretrained=runs, features=features)
    cfg = ctx.resolve().train
    seed_everything(spec.seed)  # the seed decides the initial weights too
    if cfg.threads:  # closed-form fitting (EASE, ALS) happens before the loop sets it
        torch.set_num_threads(cfg.threads)
    refits = refitting(spec.refit, split, model_cls, cfg)

    t0 = time.perf_counter()
    model = setup(ctx)
    setup_seconds = time.perf_counter() - t0
    history = model.fit(ctx)
    forget_cold(model, split.train, task)
    before_refit, refit_seconds = None, 0.0
    if not refits and has_validation(split):  # what is known of the users at test time: the validation part too
        model.observe(with_validation_in_train(split).train)
    if refits:
        before_refit = model
        model, refit_seconds, full = refit(model, history, ctx)
        log.info("%s: refitted on train + validation (%d epochs, %.1f s)", model.name, refit_epochs(history, ctx), refit_seconds)
        forget_cold(model, full.split.train, task)

    if not distributed.is_main():  # rank 0 alone evaluates and writes the run
        return model, {}, history, split, ds
    eval_train = evaluation_train(split)
    metrics = evaluate(model, task, eval_train, split.test, split.test_negatives, ds.rating_values, split.dislikes,
                       cold_candidates=holds_cold_items(split))
    metrics["fit_seconds"] = history.fit_seconds + setup_seconds + refit_seconds
    metrics["refit"] = refits
    if refits:
        metrics["refit_seconds"] = refit_seconds
    metrics["epochs"] = len(history.epochs)
    metrics["n_parameters"] = model.n_parameters()
    metrics.update(features_used(features) if reads_features(model_cls) else {})
    for key, value in split.notes.items():
        if isinstance(value, (int, float)):
            metrics[f"split_{key}"] = value
    hist = {**asdict(history)}
    if out is not None:
        from deeprecs.plots import plot_history
        from deeprecs.runs import save_run

        resolved = ctx.resolve()
        config = {"model": model.name, "preset": spec.model, "task": task, "loss": resolved.loss, "data": spec.data,
                  "dataset": ds.name, "source": ds.source, "split": spec.split, "seed": spec.seed,
                  "positive": spec.positive, "threshold": spec.threshold, "rating_map": spec.rating_map,
                  "rating_values": None if ds.rating_values is None else np.asarray(ds.rating_values).tolist(),
                  "train": resolved.train.model_dump(), "split_notes": split.notes, "pretrain": spec.pretrain, "refit": refits,
                  "dislikes": split.dislikes is not None, "device": str(device),
                  **({"columns": spec.columns} if spec.columns else {}), **({"sep": spec.sep} if spec.sep else {}),
                  "duplicates": spec.duplicates}
        save_run(out, model, config, eval_train, test=split.test, test_negatives=split.test_negatives, before_refit=before_refit,
                 valid=None if split.notes.get("valid_carved") else split.valid, dislikes=split.dislikes,
                 items=ds.items, metrics=metrics, features=features, history=hist, extras=extras,
                 figures={"loss.png": lambda path: plot_history(hist, path, title=f"{spec.model} on {ds.name}")})
    return model, metrics, history, split, ds


__all__ = ["setup", "train"]
