"""The registry of models: name -> class, filled by :mod:`deeprecs.models` (so that a model that
builds others by name, such as the blend, needs no import of the package that holds it)."""

from __future__ import annotations

from deeprecs.errors import ConfigError
from deeprecs.models.base import Recommender

MODELS: dict[str, type[Recommender]] = {}


def register(*classes: type[Recommender]) -> None:
    for cls in classes:
        MODELS[cls.name] = cls


def get_model_class(name: str) -> type[Recommender]:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def build_model(name: str, n_users: int, n_items: int, **options) -> Recommender:
    cls = get_model_class(name)
    try:
        config = cls.Config(n_users=n_users, n_items=n_items, **options)
    except Exception as exc:  # pydantic.ValidationError
        raise ConfigError(f"invalid options for {name}: {first_error(exc)}") from None
    return cls(config)


def first_error(exc: Exception) -> str:
    """The first message of a pydantic validation error, with the field it is about."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        e = errors()[0]
        msg = e["msg"].removeprefix("Value error, ")  # a whole-config check has no field to name
        return f"{'.'.join(map(str, e['loc']))}: {msg}" if e["loc"] else msg
    return str(exc)


def warm_starting() -> list[str]:
    """The models that start from trained runs (``--pretrain``), with what each takes."""
    return [f"{name} ({cls.pretrain_takes})" for name, cls in MODELS.items() if cls.pretrain_takes]


__all__ = ["MODELS", "build_model", "first_error", "get_model_class", "register", "warm_starting"]
