"""Model registry: architecture name -> class. See :mod:`deeprecs.models.base` for the contract."""

from __future__ import annotations

from deeprecs.errors import ConfigError
from deeprecs.models.autorec import AutoRec
from deeprecs.models.base import ModelConfig, Recommender
from deeprecs.models.blend import Blend
from deeprecs.models.factorization import MF, NNMF, BiasedMF, SVDpp
from deeprecs.models.ncf import GMF, NeuMF
from deeprecs.models.neural import MLP, TwoTower
from deeprecs.models.popularity import Popularity
from deeprecs.models.triplet import DeepTriplet, Triplet

MODELS: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (MF, BiasedMF, NNMF, SVDpp, AutoRec, MLP, TwoTower, Triplet, DeepTriplet, GMF, NeuMF, Popularity, Blend)
}

#: presets: a name that is another architecture with a fixed loss
PRESETS: dict[str, tuple[str, str, str]] = {
    "bpr-mf": ("mf", "bpr", "MF trained for ranking with the BPR loss (-log sigmoid)"),
    "warp-mf": ("mf", "warp", "MF trained for ranking with WARP hard negatives"),
}


def get_model_class(name: str) -> type[Recommender]:
    if name in PRESETS:
        name = PRESETS[name][0]
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join([*MODELS, *PRESETS])
        raise ConfigError(f"unknown model {name!r}; known models: {known}") from None


def build_model(name: str, n_users: int, n_items: int, **options) -> Recommender:
    cls = get_model_class(name)
    try:
        config = cls.Config(n_users=n_users, n_items=n_items, **options)
    except Exception as exc:  # pydantic.ValidationError
        raise ConfigError(f"invalid options for {name}: {_first_error(exc)}") from None
    return cls(config)


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        e = errors()[0]
        return f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
    return str(exc)


__all__ = ["MODELS", "PRESETS", "ModelConfig", "Recommender", "build_model", "get_model_class"]
