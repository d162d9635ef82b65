"""What ``deeprecs train`` is asked to do, as one typed object (saved with the run)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: the options that decide the split, besides the data: a pre-trained run must share them
SPLIT_OPTIONS = {"split": "--split", "seed": "--seed", "positive": "--positive", "threshold": "--threshold", "rating_map": "--rating-map"}


@dataclass
class TrainSpec:
    """Everything ``deeprecs train`` was asked to do.

    ``model_options`` / ``train_options``: the user's own values of the model's config fields and
    of :class:`~deeprecs.training.TrainConfig`'s (typed by the CLI from those configs); defaults
    fill the rest (:mod:`deeprecs.pipeline.options`)."""

    model: str
    data: str
    split: str = "random:0.2"
    seed: int = 0
    task: str | None = None
    loss: str | None = None
    positive: float | None = None
    threshold: float | None = None
    rating_map: str | None = None
    from_path: str | None = None
    #: your own table: its columns by role (``{"user": "customer_id", "item": "sku", "weight": "qty"}``),
    #: its separator (default: from the extension), what to do with repeated (user, item) pairs
    columns: dict = field(default_factory=dict)
    sep: str | None = None
    duplicates: str = "last"
    valid_fraction: float = 0.05
    pretrain: list[str] = field(default_factory=list)
    model_options: dict = field(default_factory=dict)
    train_options: dict = field(default_factory=dict)
    #: refit on train + validation once the validation part has chosen the settings and the number
    #: of epochs; None: where the validation part is a protocol's hold-out of one item per user
    #: (leave-one-out, NCF files), see :func:`deeprecs.pipeline.refit.refits_by_default`; a fresh
    #: model, or the validation fit trained on (``refit_epochs``, a warm refit)
    refit: bool | None = None
    #: with ``positive``: keep the train ratings below it as known dislikes, ranked last for
    #: their user in evaluation and never recommended (False: drop them, as before)
    dislikes: bool = True
    #: where to train and evaluate: auto (CUDA when available), cpu, cuda, cuda:N, mps
    device: str = "auto"
    #: GiB that dense items x items matrices may take (None: 90% of the memory available; :mod:`deeprecs.memory`)
    memory_budget: float | None = None
    #: features, for a model that reads them (:mod:`deeprecs.data.feature_sources`): the user's own
    #: tables (first column: the id) and their columns' roles (``NAME=ROLE,...``); ``features``
    #: False: none, not even the dataset's own side data (``--no-features``)
    user_features: str | None = None
    item_features: str | None = None
    user_feature_columns: str | None = None
    item_feature_columns: str | None = None
    features: bool = True

    def given(self, option: str) -> bool:
        """Whether the user set ``option`` (a model or training option) themselves."""
        return option in self.model_options or option in self.train_options


__all__ = ["SPLIT_OPTIONS", "TrainSpec"]
