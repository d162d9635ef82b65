"""The data side of a run: load, pick the task, split, keep positives, carve a validation part.

raw files -> Dataset -> transforms -> Split -> (positives, known dislikes) -> validation part
"""

from __future__ import annotations

import numpy as np

from deeprecs.data import load_dataset, make_split, with_validation
from deeprecs.data.dataset import Dataset, Split
from deeprecs.data.feature_sources import load_features
from deeprecs.data.features import Features
from deeprecs.data.interactions import Interactions
from deeprecs.data.sequences import require_timestamps
from deeprecs.data.transforms import apply_value_map, binarize
from deeprecs.errors import ConfigError
from deeprecs.models.base import reads_features, reads_history
from deeprecs.pipeline.spec import TrainSpec


def load_data(spec: TrainSpec) -> Dataset:
    """The dataset ``spec`` names, with its rating recoding and binarisation applied."""
    ds = load_dataset(spec.data, from_path=spec.from_path, duplicates=spec.duplicates, columns=spec.columns or None, sep=spec.sep)
    if spec.rating_map:
        ds.interactions = apply_value_map(ds.interactions, spec.rating_map)
        ds.rating_values = np.unique(ds.interactions.ratings)
    if spec.threshold is not None:
        ds.interactions = binarize(ds.interactions, spec.threshold)
        ds.rating_values = np.array([0.0, 1.0])
    return ds


def load_features_of(spec: TrainSpec, ds: Dataset, model_cls: type) -> Features:
    """The features ``spec`` asks for, aligned to ``ds``'s id maps, for a model that reads them:
    the user's tables (``--user-features``/``--item-features``), else the dataset's own side data;
    none with ``--no-features``. Tables given to a model that reads none are refused."""
    given = spec.user_features or spec.item_features
    if not reads_features(model_cls):
        if given:
            raise ConfigError(f"model {spec.model!r} reads no features; drop --user-features/--item-features or pick a model that "
                              "reads them (deeprecs models)")
        return Features()
    if not spec.features:
        if given:
            raise ConfigError("--no-features with --user-features/--item-features: drop one of them")
        return Features()
    return load_features(ds, spec.user_features, spec.item_features, spec.user_feature_columns, spec.item_feature_columns)


def resolve_task(spec: TrainSpec, ds: Dataset, tasks: tuple[str, ...]) -> str:
    """``--task``, or from the data: ranking for a model without a rating task, positive-only data,
    ``--positive``, leave-one-out and NCF files; else rating. ``tasks``: the model's."""
    task = spec.task
    if task is None:
        if "rating" not in tasks or spec.positive is not None or ds.kind == "ncf" or ds.interactions.ratings is None or spec.split == "loo":
            task = "ranking"
        else:
            task = "rating"
    if task not in tasks:
        raise ConfigError(f"model {spec.model!r} supports task(s) {', '.join(tasks)}, not {task!r}")
    if task == "rating" and ds.interactions.ratings is None:
        raise ConfigError("--task rating needs rated data; this data is positive-only")
    return task


def _keep_rows(part: Interactions | None, negatives: np.ndarray | None, threshold: float | None):
    if part is None:
        return None, None
    if threshold is None or part.ratings is None:
        return part.positives(None), negatives
    mask = part.ratings >= threshold
    return part.subset(mask).positives(None), (None if negatives is None else negatives[mask])


def merge(a: Interactions, b: Interactions) -> Interactions:
    """``a``'s rows then ``b``'s (one vocabulary); ratings and timestamps where both have them."""
    cat = lambda x, y: None if x is None or y is None else np.concatenate([x, y])  # noqa: E731
    return a.replace(users=np.concatenate([a.users, b.users]), items=np.concatenate([a.items, b.items]),
                     ratings=cat(a.ratings, b.ratings), timestamps=cat(a.timestamps, b.timestamps), weights=cat(a.weights, b.weights))


def prepare_split(spec: TrainSpec, ds: Dataset, task: str) -> Split:
    """Split, then (ranking) keep positives in every part, then carve a validation part."""
    split = make_split(ds, spec.split, seed=spec.seed)
    if ds.kind == "ncf" and split.valid is None:
        split = with_validation(split, seed=spec.seed)  # one held-out train item per user + 99 negatives
    dislikes = None
    if task == "ranking" and spec.dislikes and spec.positive is not None and split.train.ratings is not None:
        below = split.train.ratings < spec.positive
        dislikes = split.train.subset(below).positives(None) if below.any() else None
    if task == "ranking":
        train, _ = _keep_rows(split.train, None, spec.positive)
        test, test_neg = _keep_rows(split.test, split.test_negatives, spec.positive)
        valid, valid_neg = _keep_rows(split.valid, split.valid_negatives, spec.positive)
        split = Split(train, test, valid, test_neg, valid_neg, split.spec, dict(split.notes))
    if dislikes is not None:
        split.dislikes = dislikes
        split.notes["train_dislikes"] = len(dislikes)
    if split.valid is None and spec.valid_fraction > 0:
        rng = np.random.default_rng(spec.seed + 1)
        n_valid = int(round(spec.valid_fraction * len(split.train)))
        perm = rng.permutation(len(split.train))
        split.valid = split.train.subset(np.sort(perm[:n_valid]))
        split.train = split.train.subset(np.sort(perm[n_valid:]))
        split.notes["valid"] = f"random {spec.valid_fraction:g} of train (seed {spec.seed + 1})"
        split.notes["valid_carved"] = 1
    return split


def has_validation(split: Split) -> bool:
    return split.valid is not None and len(split.valid) > 0


def holds_cold_items(split: Split) -> bool:
    """A cold-items split (``cold-items:F``): validation and test also score among the held-out items alone."""
    return "cold_items" in split.notes


def evaluation_train(split: Split) -> Interactions:
    """What test-time candidate filtering treats as the user's train data: a validation part
    carved from train still counts as train; a protocol's own validation items (leave-one-out)
    stay candidates, as PROTOCOLS.md says."""
    if split.valid is not None and split.notes.get("valid_carved"):
        return merge(split.train, split.valid)
    return split.train


def with_validation_in_train(split: Split) -> Split:
    """The split whose train part is train + validation, and no validation part."""
    return Split(merge(split.train, split.valid), split.test, None, split.test_negatives, None, split.spec, dict(split.notes),
                 split.dislikes)


def check_inputs(model: type, ds: Dataset) -> None:
    """A model that reads each user's history in time order (``"history"`` among its ``inputs``)
    needs timestamps: refuse data without them before splitting it."""
    if reads_history(model):
        require_timestamps(ds.interactions, model.name)


def check_recency(recency: float, split: Split, data: str) -> None:
    """A recency boost needs timestamps: refuse one the user asked for where there are none."""
    if recency > 0 and split.train.timestamps is None:
        raise ConfigError(f"--recency needs timestamps, and the train part of {data} has none; drop --recency")


__all__ = ["check_inputs", "check_recency", "evaluation_train", "has_validation", "holds_cold_items", "load_data", "merge", "prepare_split", "resolve_task",
           "with_validation_in_train"]
