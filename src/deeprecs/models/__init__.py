"""The models, by name. See :mod:`deeprecs.models.base` for the contract.

A name such as ``bpr-mf`` is a model of its own (a subclass that fixes its loss and defaults), so
nothing outside this package tells names apart.
"""

from __future__ import annotations

from deeprecs.models.als import ALS
from deeprecs.models.autorec import AutoRec
from deeprecs.models.base import ModelConfig, Recommender
from deeprecs.models.blend import Blend
from deeprecs.models.ease import EASE
from deeprecs.models.factorization import BPRMF, MF, NNMF, WARPMF, BiasedMF, SVDpp
from deeprecs.models.gru4rec import GRU4Rec
from deeprecs.models.fm import FM, DeepFM, HybridMF
from deeprecs.models.ncf import GMF, NeuMF
from deeprecs.models.neural import MLP, TwoTower
from deeprecs.models.popularity import Popularity
from deeprecs.models.registry import MODELS, build_model, first_error, get_model_class, register, warm_starting
from deeprecs.models.rp3beta import RP3beta
from deeprecs.models.sasrec import SASRec
from deeprecs.models.triplet import DeepTriplet, Triplet

register(MF, BiasedMF, NNMF, SVDpp, AutoRec, MLP, TwoTower, Triplet, DeepTriplet, GMF, NeuMF, Popularity, EASE, RP3beta, ALS, Blend, BPRMF, WARPMF,
         SASRec, GRU4Rec, FM, DeepFM, HybridMF)

__all__ = ["MODELS", "ModelConfig", "Recommender", "build_model", "first_error", "get_model_class", "warm_starting"]
