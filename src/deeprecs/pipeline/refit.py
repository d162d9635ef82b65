"""Refit: once the validation part has chosen what it chooses, fit again on train + validation.

What validation chose is kept — a closed-form model's grid (ALS's alpha), NeuMF's fusion weight, the
epochs early stopping kept (the best one), a blend's weights — and the model fits itself again on
the larger part (:meth:`~deeprecs.models.base.Recommender.refit`).
"""

from __future__ import annotations

import time

from deeprecs.data.dataset import Split
from deeprecs.models.base import Recommender
from deeprecs.pipeline.context import Context
from deeprecs.training import History, seed_everything


def refits_by_default(split: Split, model_cls: type[Recommender] = Recommender) -> bool:
    """Refit on train + validation unless asked otherwise where the validation part is a
    protocol's hold-out of one item per user (leave-one-out, NCF files): that item is the user's
    latest train item (loo), the one most like the test item, and leaving it out of the final
    model costs accuracy (README, "Refit"). A validation part carved at random from train keeps
    the model it chose. A model whose refit is not worth its cost (``model_cls.refits`` False: the
    sequential ones, which read the validation item as the latest of a user's history) keeps its
    validation fit."""
    return model_cls.refits and split.spec in ("loo", "ncf") and split.valid is not None and len(split.valid) > 0


def refit(model: Recommender, history: History, ctx: Context) -> tuple[Recommender, float, Context]:
    """``model`` fitted again on train + validation with everything validation chose kept;
    returns it, the seconds it took, and the context of the larger part. Pre-trained runs
    contribute their final models (refitted ones included), having been validated as they were
    before their own refit."""
    seed_everything(ctx.seed)
    t0 = time.perf_counter()
    full = ctx.with_validation_in_train()
    fresh = model.refit(full, history)
    return fresh, time.perf_counter() - t0, full


__all__ = ["refit", "refits_by_default"]
