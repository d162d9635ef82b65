"""One run's context: its data, split, device and resolved options, and the services a model uses to
train itself (:class:`~deeprecs.models.base.TrainingContext`): building a model with its data fitted,
the one training loop with early stopping, the validation metric, the ``--pretrain`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from deeprecs.data.dataset import Dataset, Split
from deeprecs.data.features import Features
from deeprecs.data.interactions import Interactions
from deeprecs.data.recency import predicts_next_item
from deeprecs.memory import Budget
from deeprecs.models import build_model, get_model_class
from deeprecs.models.base import FitData, Recommender, Setting, reads_features
from deeprecs.pipeline import scoring
from deeprecs.pipeline.data import has_validation, holds_cold_items, with_validation_in_train
from deeprecs.pipeline.options import Resolved, resolve
from deeprecs.pipeline.spec import TrainSpec
from deeprecs.training import History, fit


@dataclass
class Context:
    """See the module docstring. ``resolved``: the top model's options (what validation chooses
    is written back into it, so that saving and refitting see the choice); ``pretrained``: the
    loaded ``--pretrain`` runs."""

    spec: TrainSpec
    dataset: Dataset
    split: Split
    task: str
    device: torch.device
    progress: bool
    resolved: Resolved | None = None
    pretrained: list = field(default_factory=list)
    budget: Budget | None = None
    #: the users' and items' features aligned to the id maps (:func:`deeprecs.pipeline.data.load_features_of`)
    features: Features = field(default_factory=Features)

    @classmethod
    def of(cls, spec: TrainSpec, split: Split, task: str = "ranking", dataset: Dataset | None = None, device: str = "cpu",
           progress: bool = False, runs: list | None = None) -> "Context":
        """A context for ``spec`` on ``split`` (from Python: the steps one at a time)."""
        from deeprecs.devices import resolve_device

        return cls(spec, dataset if dataset is not None else Dataset(spec.data, split.train), split, task, resolve_device(device), progress,
                   pretrained=list(runs or []))

    @property
    def seed(self) -> int:
        return self.spec.seed

    @property
    def rating_range(self) -> tuple[float, float] | None:
        return scoring.rating_range(self.dataset.rating_values)

    @property
    def validating(self) -> bool:
        return has_validation(self.split)

    def setting(self, pretrained: bool = True) -> Setting:
        """The setting of the top model (``pretrained``: with its ``--pretrain`` runs)."""
        return Setting(self.task, next_item=predicts_next_item(self.split), dislikes=self.split.dislikes is not None,
                       pretrain=tuple(self.pretrained) if pretrained else ())

    def resolve(self, name: str | None = None) -> Resolved:
        """The options of the top model (``name`` None or the run's model), or of another model
        this one trains (a blend's member): that model's own defaults in this setting, with the
        user's training options."""
        if name is None or name == self.spec.model:
            if self.resolved is None:
                self.resolved = resolve(get_model_class(self.spec.model), self.setting(), model_options=self.spec.model_options,
                                        train_options=self.spec.train_options, loss=self.spec.loss, seed=self.seed, progress=self.progress)
            return self.resolved
        return resolve(get_model_class(name), self.setting(pretrained=False), train_options=self.spec.train_options, seed=self.seed,
                       progress=self.progress)

    # ------------------------------------------------------------------ services for models
    def fit_data(self, name: str | None = None, resolved: Resolved | None = None) -> FitData:
        cfg = (resolved or self.resolve(name)).train
        top = name is None or name == self.spec.model
        features = self.features if reads_features(get_model_class(name or self.spec.model)) else Features()
        return FitData(self.split.train, self.split.dislikes, cfg.recency, cfg.recency_scale, cfg.confidence, self.device, self.progress,
                       pretrained=top and bool(self.pretrained), user_features=features.users, item_features=features.items)

    def build(self, name: str, options: dict | None = None, fit: bool = True, resolved: Resolved | None = None) -> Recommender:
        """Model ``name`` with ``options`` (default: its resolved ones), on the device, its data
        fitted (:meth:`~deeprecs.models.base.Recommender.fit_data`) unless ``fit`` is False."""
        resolved = resolved or self.resolve(name)
        train = self.split.train
        options = {**(resolved.model if options is None else options), **self.feature_sizes(name)}
        options = get_model_class(name).within_budget(options, train.n_users, train.n_items, self.memory_budget())
        model = build_model(name, train.n_users, train.n_items, **options).to(self.device)
        if fit:
            model.fit_data(self.fit_data(name, resolved))
        return model

    def memory_budget(self) -> Budget:
        """The run's memory budget (``--memory-budget``, else from the memory available at its first use)."""
        if self.budget is None:
            self.budget = Budget.of(self.spec.memory_budget)
        return self.budget

    def feature_sizes(self, name: str) -> dict[str, int]:
        """The feature vocabularies' sizes for model ``name`` (none for a model that reads no features)."""
        if not reads_features(get_model_class(name)):
            return {}
        return {"n_user_features": self.features.users.n_features if self.features.users is not None else 0,
                "n_item_features": self.features.items.n_features if self.features.items is not None else 0}

    def candidate(self, values: dict) -> Recommender:
        """The top model built with ``values`` (model or training options) over its resolved
        options, set up as it was: data fitted, warm-started from the runs."""
        resolved = self._with(values)
        model = self.build(self.spec.model, resolved=resolved)
        if self.pretrained:
            model.warm_start(self.pretrained, self)
        return model

    def choose(self, values: dict) -> None:
        """Keep ``values`` (chosen on validation) in the top model's resolved options."""
        self.resolved = self._with(values)

    def _with(self, values: dict) -> Resolved:
        r = self.resolve()
        fields = get_model_class(self.spec.model).Config.model_fields
        model = {**r.model, **{k: v for k, v in values.items() if k in fields}}
        return Resolved(model, r.train.model_copy(update={k: v for k, v in values.items() if k not in fields}), r.loss)

    def loop(self, model: Recommender, name: str | None = None, epochs: int | None = None, pretrained: bool = False) -> History:
        """The one training loop for ``model`` (the top model, or model ``name`` that it trains),
        with its resolved options (``epochs``: that many, no early stopping: a refit), early
        stopping on the validation part where there is one; ``pretrained``: the starting weights
        compete as epoch 0."""
        resolved = self.resolve(name)
        cfg = resolved.train if epochs is None else resolved.train.model_copy(update={"epochs": epochs})
        task = model.make_task(self.task, self.fit_data(name), cfg)
        if task is None:
            return History()
        if self.validating:
            validate, metric, higher = self.validator()
            return fit(model, task, cfg, validate, metric, higher, validate_start=pretrained)
        return fit(model, task, cfg)

    def validator(self, valid: Interactions | None = None, negatives: np.ndarray | None = None):  # noqa: ANN201
        """``(validate(model) -> float, metric, higher_is_better)`` on the validation part (or on
        ``valid`` with its ``negatives``)."""
        if valid is None:
            valid, negatives = self.split.valid, self.split.valid_negatives
        return scoring.validator(self.task, self.split.train, valid, negatives, self.dataset.rating_values, self.split.dislikes,
                                 cold_candidates=holds_cold_items(self.split))

    def runs(self) -> list:
        return self.pretrained

    def with_validation_in_train(self) -> "Context":
        """The same run on train + validation, with no validation part (for a refit)."""
        return replace(self, split=with_validation_in_train(self.split))


@torch.no_grad()
def forget_cold(model: Recommender, train: Interactions, task: str = "rating") -> None:
    """Let ``model`` forget the users and items without training data (its
    :meth:`~deeprecs.models.base.Recommender.forget_cold`)."""
    cold_u = torch.from_numpy(train.user_counts() == 0)
    cold_i = torch.from_numpy(train.item_counts() == 0)
    if cold_u.any() or cold_i.any():
        model.forget_cold(cold_u.to(model.device), cold_i.to(model.device), task)


__all__ = ["Context", "forget_cold"]
