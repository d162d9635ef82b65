"""Model registry: architecture name -> class. See :mod:`deeprecs.models.base` for the contract."""

from __future__ import annotations

from typing import NamedTuple

from deeprecs.errors import ConfigError
from deeprecs.models.als import ALS
from deeprecs.models.autorec import AutoRec
from deeprecs.models.base import ModelConfig, Recommender
from deeprecs.models.blend import Blend
from deeprecs.models.ease import EASE
from deeprecs.models.factorization import MF, NNMF, BiasedMF, SVDpp
from deeprecs.models.ncf import GMF, NeuMF
from deeprecs.models.neural import MLP, TwoTower
from deeprecs.models.popularity import Popularity
from deeprecs.models.rp3beta import RP3beta
from deeprecs.models.triplet import DeepTriplet, Triplet

MODELS: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (MF, BiasedMF, NNMF, SVDpp, AutoRec, MLP, TwoTower, Triplet, DeepTriplet, GMF, NeuMF, Popularity, EASE, RP3beta, ALS, Blend)
}

#: presets: a name that is another architecture with a fixed loss
class Preset(NamedTuple):
    """A name for an architecture trained with a fixed loss, with its own product defaults."""

    architecture: str
    loss: str
    summary: str
    model_options: dict = {}
    train_options: dict = {}


_RANKING_MF = {"factors": 128, "l2": 1e-4, "init_std": 0.01}
PRESETS: dict[str, Preset] = {
    "bpr-mf": Preset("biased-mf", "bpr", "MF with item biases trained with the BPR loss (-log sigmoid)",
                     _RANKING_MF, {"lr": 2e-3, "patience": 8}),
    # WARP learns fast and overfits fast: a small step and more L2 (chosen on the validation part of ua, >= 4:
    # valid AUC 0.9347 in 21 epochs at lr 2e-3, batch 2048; 0.9349 in 26 at lr 1e-3, batch 1024, 40 % slower)
    "warp-mf": Preset("biased-mf", "warp", "MF with item biases trained with WARP hard negatives",
                      {**_RANKING_MF, "l2": 1e-3}, {"lr": 2e-3, "batch_size": 2048, "patience": 3}),
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
        msg = e["msg"].removeprefix("Value error, ")  # a whole-config check has no field to name
        return f"{'.'.join(map(str, e['loc']))}: {msg}" if e["loc"] else msg
    return str(exc)


__all__ = ["MODELS", "PRESETS", "ModelConfig", "Recommender", "build_model", "get_model_class"]
