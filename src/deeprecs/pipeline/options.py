"""The one resolver of options: a model's defaults in its setting, its ``--pretrain`` runs', the user's.

Lowest precedence first — model options: the model's defaults for the task and setting
(:meth:`~deeprecs.models.base.Recommender.defaults`), what the pre-trained runs imply
(:meth:`~deeprecs.models.base.Recommender.pretrain_options`), the user's; training options: the
model's defaults, the user's, then the seed and progress of the run. The loss: the user's, else the
model's default for the task (a model that fixes its loss refuses another).
"""

from __future__ import annotations

from dataclasses import dataclass

from deeprecs.errors import ConfigError
from deeprecs.losses import get_loss
from deeprecs.models import first_error
from deeprecs.models.base import Recommender, Setting
from deeprecs.training import TrainConfig


@dataclass
class Resolved:
    """A model's options, ready to build and train it: ``model`` (its config's fields), ``train``
    (the loop's config) and the ``loss``."""

    model: dict
    train: TrainConfig
    loss: str

    def with_train(self, **changes) -> "Resolved":
        return Resolved(dict(self.model), self.train.model_copy(update=changes), self.loss)


def resolve(cls: type[Recommender], setting: Setting, *, model_options: dict | None = None, train_options: dict | None = None,
            loss: str | None = None, seed: int = 0, progress: bool = True) -> Resolved:
    """The options of model class ``cls`` in ``setting`` given the user's ``model_options``,
    ``train_options`` and ``loss`` (see the module docstring)."""
    task, user_model = setting.task, dict(model_options or {})
    defaults = cls.defaults(setting)
    implied = cls.pretrain_options(list(setting.pretrain), user_model) if setting.pretrain else {}
    chosen_loss = loss or defaults.loss
    if cls.fixed_loss and loss and loss != defaults.loss:
        base = cls.__mro__[1].name
        raise ConfigError(f"{cls.name} is {base} with --loss {defaults.loss}; use `{base} --task {task} --loss {loss}` instead")
    if chosen_loss != "none":
        get_loss(task, chosen_loss)  # the rating task would otherwise ignore a ranking loss silently
    train = {**defaults.train, **(train_options or {}), "seed": seed, "progress": progress}
    if task == "ranking" or chosen_loss != "none":
        train["loss"] = chosen_loss
    try:
        cfg = TrainConfig(**train)
    except Exception as exc:  # pydantic.ValidationError
        raise ConfigError(f"invalid training options: {first_error(exc)}") from None
    return Resolved({**defaults.model, **implied, **user_model}, cfg, chosen_loss)


__all__ = ["Resolved", "resolve"]
