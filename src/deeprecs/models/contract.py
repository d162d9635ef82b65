"""What the pipeline hands a model and what a model declares back: the data it may fit on
(:class:`FitData`), where it is being trained (:class:`Setting`), its defaults there
(:class:`Defaults`), and the pipeline's services to a model that trains in its own way
(:class:`TrainingContext`). :mod:`deeprecs.models.base` re-exports them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch

if TYPE_CHECKING:
    from deeprecs.data.dataset import Split
    from deeprecs.data.interactions import Interactions
    from deeprecs.models.base import Recommender
    from deeprecs.training import History


@dataclass
class FitData:
    """What a model may learn from before (or instead of) gradient training (:meth:`Recommender.fit_data`).

    ``train``: the training pairs; ``dislikes``: the known dislikes (train ratings below
    ``--positive``) or ``None``; ``recency``/``recency_scale``: the weight ``1 + recency
    exp(-r / scale)`` of a user's ``r``-th latest pair (0: every pair alike); ``device``: where to
    compute; ``progress``: show progress bars; ``pretrained``: see below."""

    train: Interactions
    dislikes: Interactions | None = None
    recency: float = 0.0
    recency_scale: float = 5.0
    #: how a row's weight (``train.weights``) becomes confidence (:mod:`deeprecs.data.weighting`)
    confidence: str = "log"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    progress: bool = False
    #: the weights come from trained runs next (``--pretrain``): skip the fits they would replace
    pretrained: bool = False
    #: the users' and items' features (:class:`deeprecs.data.features.FeatureTable`, aligned to
    #: the id maps), for a model that reads them; ``None``: none
    user_features: Any = None
    item_features: Any = None

    def replace(self, **changes: Any) -> "FitData":
        return FitData(**{**self.__dict__, **changes})


@dataclass(frozen=True)
class Setting:
    """Where a model is being trained, for its defaults and validation grid: the ``task``;
    ``next_item``: the held-out items are each user's latest (leave-latest-one-out with
    timestamps, where recent positives count more); ``dislikes``: the split has known dislikes;
    ``pretrain``: the loaded ``--pretrain`` runs (:class:`deeprecs.runs.Run`)."""

    task: str
    next_item: bool = False
    dislikes: bool = False
    pretrain: tuple = ()


@dataclass
class Defaults:
    """A model's defaults in a :class:`Setting`: model options, training-loop options, the loss."""

    model: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    loss: str = ""


class TrainingContext(Protocol):
    """What the pipeline offers a model that trains in its own way (:meth:`Recommender.fit`,
    :meth:`Recommender.refit`, :meth:`Recommender.warm_start`); implemented by
    :class:`deeprecs.pipeline.context.Context`."""

    task: str
    split: Split
    device: torch.device
    progress: bool
    seed: int
    rating_range: tuple[float, float] | None

    def fit_data(self) -> FitData: ...
    def build(self, name: str, options: dict | None = None, fit: bool = True) -> "Recommender": ...
    def loop(self, model: "Recommender", name: str | None = None, epochs: int | None = None, pretrained: bool = False) -> History: ...
    def validator(self, valid: Interactions | None = None, negatives: Any = None) -> tuple[Any, str, bool]: ...
    def runs(self) -> list: ...


__all__ = ["Defaults", "FitData", "Setting", "TrainingContext"]
