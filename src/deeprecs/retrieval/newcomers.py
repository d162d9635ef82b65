"""Users and items that have no row in a trained model, described by their features (and a new
user's liked items), scored without retraining.

A run keeps its feature encoding (:class:`deeprecs.data.features.FeatureTable`): a newcomer's raw
values (``{"age": "25", "gender": "F"}``; a multi-valued column's values joined by its separator)
are encoded as in training, and the model (one that reads features: ``Recommender.inputs``)
scores a batch whose ids are ``-1`` from them alone.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from deeprecs.batch import Batch, pad_histories
from deeprecs.errors import ConfigError
from deeprecs.models.base import reads_features
from deeprecs.retrieval.foldin import liked_matrix
from deeprecs.retrieval.topk import mask_rows, top_k


def parse_values(text: str) -> dict[str, str]:
    """``"age=25,gender=F,genres=Comedy|Drama"`` -> ``{"age": "25", ...}``."""
    out = {}
    for part in [p for p in text.split(",") if p.strip()]:
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            raise ConfigError(f"{text!r}: expected NAME=VALUE,... (the feature table's columns), got {part!r}")
        out[name.strip()] = value.strip()
    return out


def _bag(run, side: str, values: dict[str, str]):  # noqa: ANN001, ANN202 - Run, FeatureBag
    table = run.features.users if side == "user" else run.features.items
    if table is None or not reads_features(run.model):
        raise ConfigError(f"{run.path} has no {side} features (a model that reads features, trained with them, has)")
    known = [c.name for c in table.encoder.columns]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown {side} feature column(s) {', '.join(unknown)}; the run's are {', '.join(known)}")
    return table.new_rows(pd.DataFrame([{c: values.get(c) for c in known}])).to(run.model.device)


@torch.no_grad()
def recommend_new_user(run, values: dict[str, str], liked: Sequence[int] = (), k: int = 10) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Top-``k`` items ``(items (1, k), scores (1, k))`` for a new user given by features and the
    item indices they liked (excluded from the list)."""
    model = run.model
    history = pad_histories([list(liked)], device=model.device) if liked else None
    scores = model.score_all(Batch(torch.tensor([-1], device=model.device), user_features=_bag(run, "user", values), history=history))
    if liked:
        mask_rows(scores, liked_matrix([liked], scores.shape[1]))
    items, top = top_k(scores, k)
    return items.cpu().numpy(), top.cpu().numpy()


@torch.no_grad()
def new_item(run, values: dict[str, str], k: int = 10) -> dict[str, tuple[np.ndarray, np.ndarray]]:  # noqa: ANN001
    """A new item given by features: the ``k`` most similar items (cosine of the item vectors)
    and the ``k`` users who would score it highest, each ``(indices (k,), values (k,))``."""
    model = run.model
    vectors, embeddings = getattr(model, "item_vectors", None), getattr(model, "item_embeddings_of", None)
    if vectors is None or embeddings is None:
        raise ConfigError(f"model {model.name!r} cannot score new items by features")
    bag, one = _bag(run, "item", values), torch.tensor([-1], device=model.device)
    every = torch.arange(model.config.n_items, device=model.device)
    sims = torch.nn.functional.cosine_similarity(embeddings(one, bag), embeddings(every), dim=1)
    users = model.query_vectors(Batch(torch.arange(model.config.n_users, device=model.device)))
    similar, scores = top_k(sims.unsqueeze(0), k), top_k((users @ vectors(one, bag).T).T + model.score_constant(), k)
    return {"similar": tuple(t[0].cpu().numpy() for t in similar), "users": tuple(t[0].cpu().numpy() for t in scores)}


__all__ = ["new_item", "parse_values", "recommend_new_user"]
