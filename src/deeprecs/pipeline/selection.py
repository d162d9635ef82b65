"""Options chosen on the validation part: a model's validation grid, each value one more set-up.

A model names the options it wants chosen (:meth:`~deeprecs.models.base.Recommender.validation_grid`:
ALS's confidence and recency, RP3beta's pruning and popularity penalty, a pre-trained NeuMF's fusion
weight); the ones the user gave are kept as given. Each combination is built and set up as the
model itself was (its data fitted, its warm start), validated, and the best kept — ties keep the
earliest, the model's own defaults first.
"""

from __future__ import annotations

import itertools
import logging

import torch

from deeprecs.models.base import Recommender
from deeprecs.pipeline.context import Context
from deeprecs.training import better

log = logging.getLogger("deeprecs")


def choose_on_validation(model: Recommender, ctx: Context) -> Recommender:
    """``model`` (set up with its resolved options) or the grid's candidate that validates best;
    the chosen values are kept in ``ctx`` (:meth:`Context.choose`)."""
    grid = {k: tuple(v) for k, v in type(model).validation_grid(ctx.setting()).items() if not ctx.spec.given(k)}
    if not grid or not ctx.validating:
        return model
    validate, metric, higher = ctx.validator()
    current = ctx.resolve()

    def value_of(key: str):  # noqa: ANN202
        return getattr(model.config, key) if key in type(model).Config.model_fields else getattr(current.train, key)

    start = tuple(value_of(k) for k in grid)
    best, best_value, best_values = model, float(validate(model)), start
    tried = {start: best_value}
    devices = [model.device] if model.device.type == "cuda" else []
    for values in itertools.product(*grid.values()):
        if values in tried:
            continue
        with torch.random.fork_rng(devices=devices):  # a candidate's initialisation leaves the run's random state alone
            candidate = ctx.candidate(dict(zip(grid, values)))
        tried[values] = value = float(validate(candidate))
        if better(value, best_value, higher):
            best, best_value, best_values = candidate, value, values
    ctx.choose(dict(zip(grid, best_values)))
    log.info("%s: %s chosen on validation (%s %s)", model.name, dict(zip(grid, best_values)), metric,
             {str(k): round(v, 4) for k, v in tried.items()})
    return best


__all__ = ["choose_on_validation"]
