"""Refit: once the validation part has chosen what it chooses, fit again on train + validation.

What validation chose is kept — a closed-form model's grid (ALS's alpha), NeuMF's fusion weight, the
epochs early stopping kept (the best one), a blend's weights — and the model fits itself again on
the larger part (:meth:`~deeprecs.models.base.Recommender.refit`): a fresh model, or, with
``--refit-epochs N`` for a model that declares ``warm_refits``, its validation fit trained N more
epochs (a warm refit).
"""

from __future__ import annotations

import time

from deeprecs.data.dataset import Split
from deeprecs.errors import ConfigError
from deeprecs.models.base import Recommender
from deeprecs.pipeline.context import Context
from deeprecs.pipeline.data import has_validation
from deeprecs.training import History, TrainConfig, seed_everything


def refits_by_default(split: Split, model_cls: type[Recommender] = Recommender, cfg: TrainConfig | None = None) -> bool:
    """Refit on train + validation unless asked otherwise where the validation part is a
    protocol's hold-out of one item per user (leave-one-out, NCF files): that item is the user's
    latest train item (loo), the one most like the test item, and leaving it out of the final
    model costs accuracy (README, "Refit"). A validation part carved at random from train keeps
    the model it chose. A model whose fresh refit is not worth its cost (``model_cls.refits``
    False: the sequential ones, which read the validation item as the latest of a user's history)
    keeps its validation fit, unless its options ask for a warm refit (``cfg.refit_epochs``)."""
    wanted = model_cls.refits or (cfg is not None and cfg.refit_epochs > 0)
    return wanted and split.spec in ("loo", "ncf") and has_validation(split)


def refitting(asked: bool | None, split: Split, model_cls: type[Recommender], cfg: TrainConfig) -> bool:
    """Whether the run refits (``asked``: ``--refit/--no-refit``, None: the default); a clear error
    where it cannot: no validation part, or a warm refit asked of a model that takes none."""
    refits = refits_by_default(split, model_cls, cfg) if asked is None else asked
    if refits and not has_validation(split):
        raise ConfigError("--refit needs a validation part to choose the settings first (--valid-fraction > 0)")
    if cfg.refit_epochs and not model_cls.warm_refits:
        raise ConfigError(f"{model_cls.name} takes no warm refit; drop --refit-epochs (its refit trains a fresh model for "
                          "the epochs early stopping kept)")
    return refits


def refit(model: Recommender, history: History, ctx: Context) -> tuple[Recommender, float, Context]:
    """``model`` fitted again on train + validation with everything validation chose kept;
    returns it, the seconds it took, and the context of the larger part. Pre-trained runs
    contribute their final models (refitted ones included), having been validated as they were
    before their own refit."""
    seed_everything(ctx.seed)
    t0 = time.perf_counter()
    full = ctx.with_validation_in_train()
    fresh = model.refit(full, history, epochs=ctx.resolve().train.refit_epochs)
    return fresh, time.perf_counter() - t0, full


def refit_epochs(history: History, ctx: Context) -> int:
    """The epochs the refit trained: the warm refit's, else those early stopping kept."""
    return ctx.resolve().train.refit_epochs or max(history.best_epoch, 0)


__all__ = ["refit", "refit_epochs", "refits_by_default", "refitting"]
