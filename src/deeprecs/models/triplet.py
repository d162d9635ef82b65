"""Triplet models for positive-only data, trained with a margin loss.

The bilinear model scores by the cosine (or dot) similarity of shared user and item
embeddings; the deep variant scores with an MLP over the concatenated embeddings. The
"triplet" (user, positive, negative) lives in the loss (:mod:`deeprecs.losses`), so the scoring
("match") model is the same module with the same weights.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from deeprecs.batch import Batch, FeatureBag
from deeprecs.errors import ConfigError
from deeprecs.models.als import ALSStartConfig, start_if_asked
from deeprecs.models.base import FitData, ModelConfig, Recommender, TrainingContext
from deeprecs.models.bags import add_features, keep_features, with_features
from deeprecs.models.layers import concat_mlp_candidates, concat_mlp_score_all, dot_candidates, flat_layers, init_embedding, mlp
from deeprecs.search import float_range, int_range


class TripletConfig(ModelConfig):
    factors: int = Field(64, ge=1, description="embedding size d", json_schema_extra=int_range(16, 128, log=True))
    similarity: Literal["cosine", "dot"] = Field("cosine", description="how user and item vectors are compared")
    item_bias: bool = Field(False, description="add a learned per-item bias to the similarity (popularity)")
    l2: float = Field(0.0, ge=0, description="per-example L2 on the embeddings a batch touches")
    init_std: float = Field(0.1, gt=0, description="std of the normal initialisation")


class Triplet(Recommender):
    """Bilinear triplet model: ``s(u, i) = cos(P[u], Q[i])``, trained with the margin loss."""

    Config = TripletConfig
    name = "triplet"
    tasks = ("ranking",)
    summary = "bilinear triplet model: cosine similarity of user/item embeddings, margin loss"
    default_loss = {"ranking": "margin"}
    train_defaults = {"ranking": {"margin": 0.5}}
    user_tables = ("user_emb",)
    item_tables = ("item_emb", "item_bias")
    inputs = frozenset({"user_features", "item_features"})

    def __init__(self, config: TripletConfig) -> None:
        super().__init__(config)
        self.user_emb = init_embedding(config.n_users, config.factors, config.init_std)
        self.item_emb = init_embedding(config.n_items, config.factors, config.init_std)
        add_features(self, config.factors, config.factors, config.init_std)
        #: added to an item's score: below every other item's for the items forget_cold ranks last
        self.register_buffer("item_offset", torch.zeros(config.n_items))
        if config.item_bias:
            self.item_bias = nn.Embedding(config.n_items, 1)
            nn.init.zeros_(self.item_bias.weight)

    def fit_data(self, data: FitData) -> None:
        keep_features(self, data)

    def _user(self, users: torch.Tensor, given: FeatureBag | None = None) -> torch.Tensor:
        return with_features(self.user_emb, self.user_features, users, given)

    def _item(self, items: torch.Tensor, given: FeatureBag | None = None) -> torch.Tensor:
        return with_features(self.item_emb, self.item_features, items, given)

    def _vectors(self, u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.similarity == "cosine":
            return F.normalize(u, dim=-1, eps=1e-8), F.normalize(v, dim=-1, eps=1e-8)
        return u, v

    def _zero_item_score(self, v: torch.Tensor) -> torch.Tensor:
        """``(..., d)`` item vectors -> ``(...,)``: -1 where the vector is all zeros (cosine only).

        The cosine of a zero vector is undefined; we define it as -1, the least similar.
        ``forget_cold`` zeroes the rows of items with no train positive, so they rank last, as
        training had put them (it only ever saw them as negatives); scoring them 0, the middle of
        the cosine range, put them above ~70 % of the other items (docs/model-defaults.md).
        """
        if self.config.similarity != "cosine":
            return torch.zeros(v.shape[:-1], device=v.device)
        return -(v == 0).all(-1).float()

    def forward(self, batch: Batch) -> torch.Tensor:
        users, items = batch.users, batch.items
        q = self._item(items, batch.item_features)
        u, v = self._vectors(self._user(users, batch.user_features), q)
        s = (u * v).sum(-1) + self._zero_item_score(q) + self._offset(items)
        return s + self.item_bias(items.clamp(min=0)).squeeze(-1) * (items >= 0) if self.config.item_bias else s

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        b, m = batch.items.shape
        q = self._item(batch.items.reshape(-1), batch.item_features).view(b, m, -1)
        u, v = self._vectors(self._user(batch.users, batch.user_features), q)
        s = dot_candidates(u, v) + self._zero_item_score(q) + self._offset(batch.items)
        return s + self.item_bias(batch.items.clamp(min=0)).squeeze(-1) * (batch.items >= 0) if self.config.item_bias else s

    def _offset(self, items: torch.Tensor) -> torch.Tensor:
        """The items' :attr:`item_offset` (0 for items given by features alone, ``-1``)."""
        return self.item_offset[items.clamp(min=0)] * (items >= 0)

    def query_vectors(self, batch: Batch) -> torch.Tensor:
        u = self._vectors(self._user(batch.users, batch.user_features), self.item_emb.weight[:1])[0]
        return torch.cat([u, torch.ones(len(u), 1, device=u.device)], 1)

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        q = self._item(torch.arange(self.config.n_items, device=self.device))
        u, v = self._vectors(self._user(torch.arange(self.config.n_users, device=self.device)), q)
        # the zero-vector score and the bias as extra dimensions against a constant 1
        extra = (self._zero_item_score(q) + self.item_offset).unsqueeze(1)
        if self.config.item_bias:
            extra = extra + self.item_bias.weight
        return torch.cat([u, torch.ones(len(u), 1, device=u.device)], 1), torch.cat([v, extra], 1)

    def item_embeddings(self) -> torch.Tensor:
        return self._item(torch.arange(self.config.n_items, device=self.device))

    def user_embeddings(self) -> torch.Tensor:
        return self._user(torch.arange(self.config.n_users, device=self.device))

    def new_item_embeddings(self, given: FeatureBag) -> torch.Tensor:
        return self._item(torch.full((len(given),), -1, device=self.device), given)

    @torch.no_grad()
    def rank_cold_items_last(self, cold_items: torch.Tensor) -> None:
        """With item features a cold item is not the zero vector: it scores by its features, so an
        offset puts it below every item with a train positive (as without features; on ML-100K ua
        its features' score put the never-liked items among the liked: AUC 0.9354 against 0.9435).
        Among cold items (a cold-items split's metrics) the features still order them."""
        super().rank_cold_items_last(cold_items)
        if self.config.n_item_features and self.config.similarity == "cosine":
            spread = 2 * self.item_bias.weight.abs().max() if self.config.item_bias else 0.0
            self.item_offset[cold_items] = -(2 + 1 + spread)


class DeepTripletConfig(ALSStartConfig):
    user_factors: int = Field(64, ge=1, description="user embedding size")
    item_factors: int = Field(64, ge=1, description="item embedding size")
    n_hidden: int = Field(1, ge=0, description="number of hidden layers of the scorer")
    hidden_size: int = Field(64, ge=1, description="units of each hidden layer of the scorer", json_schema_extra=int_range(16, 256, log=True))
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout after each hidden layer", json_schema_extra=float_range(0.0, 0.5))
    l2: float = Field(0.0, ge=0, description="per-example L2 on the embeddings a batch touches")
    init: Literal["random", "als"] = Field("als", description=ALSStartConfig.model_fields["init"].description)
    init_std: float = Field(0.1, gt=0, description="std of the normal initialisation")


class DeepTriplet(Recommender):
    """Deep triplet model: ``s(u, i) = MLP([P[u]; Q[i]])`` trained with the margin loss."""

    Config = DeepTripletConfig
    name = "deep-triplet"
    tasks = ("ranking",)
    summary = "deep triplet model: an MLP scores concatenated user/item embeddings, margin loss"
    default_loss = {"ranking": "margin"}
    user_tables = ("user_emb",)
    item_tables = ("item_emb",)
    pretrain_takes = "a triplet run, e.g. runs/triplet"
    inputs = frozenset({"user_features", "item_features"})

    def __init__(self, config: DeepTripletConfig) -> None:
        super().__init__(config)
        self.user_emb = init_embedding(config.n_users, config.user_factors, config.init_std)
        self.item_emb = init_embedding(config.n_items, config.item_factors, config.init_std)
        add_features(self, config.user_factors, config.item_factors, config.init_std)
        sizes = [config.user_factors + config.item_factors] + [config.hidden_size] * config.n_hidden
        self.scorer = nn.Sequential(mlp(sizes, config.dropout), nn.Linear(sizes[-1], 1))
        #: items with a train positive; the others are the zero vector in training too (not saved:
        #: forget_cold zeroes their rows before a run is written)
        self.register_buffer("item_known", torch.ones(config.n_items, dtype=torch.bool), persistent=False)

    def fit_data(self, data: FitData) -> None:
        """Items with no train positive are only ever negatives, and forget_cold zeroes their rows
        after training: the MLP learns to score the zero vector from them in training already (not
        a row each that is trained and then reset to an input it never saw). ``init als``: the
        embeddings start from ALS."""
        self.keep("item_known", torch.from_numpy(data.train.item_counts() > 0))
        keep_features(self, data)
        start_if_asked(self, data)

    def _users(self, users: torch.Tensor, given: FeatureBag | None = None) -> torch.Tensor:
        return with_features(self.user_emb, self.user_features, users, given)

    def _items(self, items: torch.Tensor, given: FeatureBag | None = None) -> torch.Tensor:
        """An item's id row (zero for an item without a train positive) plus its features'."""
        known = self.item_known[items.clamp(min=0)] & (items >= 0)
        return with_features(self.item_emb, self.item_features, items, given, known)

    @classmethod
    def pretrain_options(cls, runs: list, given: dict) -> dict:
        """The embeddings come from the triplet run: no ALS start to fit and overwrite."""
        return {"init": "random"}

    def warm_start(self, runs: list, ctx: TrainingContext, final: bool = False) -> None:
        if len(runs) != 1:
            raise ConfigError(f"deep-triplet --pretrain takes one triplet run (e.g. runs/triplet); got {len(runs)}")
        self.load_pretrained(runs[0].model if final else runs[0].validation_model)

    @torch.no_grad()
    def load_pretrained(self, triplet: Triplet) -> None:
        """Start from a trained bilinear triplet model's embeddings (as it compares them: unit
        vectors for cosine), so that the MLP learns a scorer over a geometry that already ranks
        well instead of learning embeddings and scorer at once (``--pretrain runs/triplet``, like
        NeuMF's pre-training)."""
        c, t = self.config, triplet.config
        if not isinstance(triplet, Triplet):
            raise ConfigError(f"deep-triplet --pretrain takes a triplet run, not a {triplet.name} run")
        for option, mine in (("--user-factors", c.user_factors), ("--item-factors", c.item_factors)):
            if mine != t.factors:
                raise ConfigError(f"deep-triplet {option} is {mine} but the triplet run's factors is {t.factors}: "
                                  f"train deep-triplet with {option} {t.factors}")
        for part in ("users", "items"):
            if getattr(c, f"n_{part}") != getattr(t, f"n_{part}"):
                raise ConfigError(f"the triplet run has {getattr(t, f'n_{part}')} {part}, this data {getattr(c, f'n_{part}')}: "
                                  "pre-train on the same data and split")
        users, items = triplet._vectors(triplet.user_emb.weight, triplet.item_emb.weight)
        self.user_emb.weight.copy_(users)
        self.item_emb.weight.copy_(items)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.scorer(torch.cat([self._users(batch.users, batch.user_features), self._items(batch.items, batch.item_features)],
                                     -1)).squeeze(-1)

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        b, m = batch.items.shape
        items = self._items(batch.items.reshape(-1), batch.item_features).view(b, m, -1)
        return concat_mlp_candidates(self._users(batch.users, batch.user_features), items, flat_layers(self.scorer)).squeeze(-1)

    def score_all(self, batch: Batch, chunk: int = 0) -> torch.Tensor:
        items = self._items(torch.arange(self.config.n_items, device=self.device))
        return concat_mlp_score_all(self._users(batch.users, batch.user_features), items, flat_layers(self.scorer))

    def item_embeddings(self) -> torch.Tensor:
        return self._items(torch.arange(self.config.n_items, device=self.device))

    def user_embeddings(self) -> torch.Tensor:
        return self._users(torch.arange(self.config.n_users, device=self.device))

    def new_item_embeddings(self, given: FeatureBag) -> torch.Tensor:
        return self._items(torch.full((len(given),), -1, device=self.device), given)
