"""Neural scorers over user/item embeddings: an MLP over the concatenation and a two-tower network."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from deeprecs.batch import Batch, FeatureBag
from deeprecs.models.als import ALSStartConfig, start_if_asked
from deeprecs.models.base import FitData, ModelConfig, Recommender
from deeprecs.models.bags import add_features, keep_features, with_features
from deeprecs.models.layers import concat_mlp_candidates, concat_mlp_score_all, dot_candidates, flat_layers, init_embedding, mlp
from deeprecs.search import float_range, int_range


class MLPConfig(ALSStartConfig):
    user_factors: int = Field(32, ge=1, description="user embedding size")
    item_factors: int = Field(32, ge=1, description="item embedding size (may differ from the user's)")
    layers: list[int] = Field([64, 32, 16], description="hidden layer sizes of the scorer")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout after each hidden layer", json_schema_extra=float_range(0.0, 0.5))
    l2: float = Field(1e-2, ge=0, description="per-example L2 on the embeddings a batch touches", json_schema_extra=float_range(1e-5, 1.0, log=True))
    init_std: float = Field(0.05, gt=0, description="std of the normal initialisation")
    biases: bool = Field(False, description="add learned user and item biases to the MLP's output")


class MLP(Recommender):
    """``score = MLP([P[u]; Q[i]])``: an MLP over the concatenated user and item embeddings
    (the NCF paper's MLP when trained for ranking with log loss)."""

    Config = MLPConfig
    name = "mlp"
    summary = "MLP over concatenated user and item embeddings (NCF's MLP for ranking)"
    default_loss = {"rating": "mse", "ranking": "bce"}
    #: the ranking sizes are neumf's MLP branch, so `neumf --pretrain runs/gmf,runs/mlp` works with defaults
    model_defaults = {"rating": {"biases": True, "dropout": 0.5, "l2": 0.1, "user_factors": 64, "item_factors": 64, "layers": [256, 64]},
                      "ranking": {"user_factors": 32, "item_factors": 32, "layers": [64, 32, 16], "dropout": 0.0, "l2": 0.0, "init_std": 0.01,
                                  "init": "als", "init_norm": 15.0}}
    train_defaults = {"ranking": {"batch_size": 8192, "min_steps_per_epoch": 50, "lr": 1e-2, "epochs": 20, "patience": 3, "n_negatives": 4}}

    def __init__(self, config: MLPConfig) -> None:
        super().__init__(config)
        self.user_emb = init_embedding(config.n_users, config.user_factors, config.init_std)
        self.item_emb = init_embedding(config.n_items, config.item_factors, config.init_std)
        sizes = [config.user_factors + config.item_factors, *config.layers]
        self.tower = mlp(sizes, config.dropout)
        self.out = nn.Linear(sizes[-1], 1)
        if config.biases:
            self.user_bias = nn.Embedding(config.n_users, 1)
            self.item_bias = nn.Embedding(config.n_items, 1)
            nn.init.zeros_(self.user_bias.weight)
            nn.init.zeros_(self.item_bias.weight)

    user_tables = ("user_emb", "user_bias")
    item_tables = ("item_emb", "item_bias")

    def fit_data(self, data: FitData) -> None:
        """``init als``: the embeddings start from ALS (learning from the known dislikes too)."""
        start_if_asked(self, data)

    def hidden(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:  # (B, layers[-1])
        return self.tower(torch.cat([self.user_emb(users), self.item_emb(items)], -1))

    def forward(self, batch: Batch) -> torch.Tensor:
        users, items = batch.users, batch.items
        s = self.out(self.hidden(users, items)).squeeze(-1) + self.rating_offset
        if self.config.biases:
            s = s + self.user_bias(users).squeeze(-1) + self.item_bias(items).squeeze(-1)
        return s

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        users, items = batch.users, batch.items
        layers = flat_layers(self.tower, self.out)
        s = concat_mlp_candidates(self.user_emb(users), self.item_emb(items), layers).squeeze(-1) + self.rating_offset
        if self.config.biases:
            s = s + self.user_bias(users) + self.item_bias(items).squeeze(-1)
        return s

    def score_all(self, batch: Batch, chunk: int = 0) -> torch.Tensor:
        users = batch.users
        layers = flat_layers(self.tower, self.out)
        s = concat_mlp_score_all(self.user_emb(users), self.item_emb.weight, layers) + self.rating_offset
        if self.config.biases:
            s = s + self.user_bias(users) + self.item_bias.weight.T
        return s

    def item_embeddings(self) -> torch.Tensor:
        return self.item_emb.weight

    def user_embeddings(self) -> torch.Tensor:
        return self.user_emb.weight


class TwoTowerConfig(ModelConfig):
    factors: int = Field(64, ge=1, description="embedding size fed to each tower", json_schema_extra=int_range(16, 128, log=True))
    tower: list[int] = Field([64, 32], description="dense layer sizes of each tower; the last is the output size")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout after each hidden layer of the towers")
    l2: float = Field(0.02, ge=0, description="per-example L2 on the embeddings a batch touches", json_schema_extra=float_range(1e-4, 0.1, log=True))
    init_std: float = Field(0.1, gt=0, description="std of the normal initialisation")


class TwoTower(Recommender):
    """Dense layers on each side, then a dot product: ``score = f(P[u] + E_u) . g(Q[i] + E_i)``, where
    ``E`` is a side's features' embeddings (zero without features; a row given by features alone,
    id ``-1``, is its features' alone: new users and items scored without retraining)."""

    Config = TwoTowerConfig
    name = "two-tower"
    summary = "two-tower network: dense layers on each side (ids plus features), then a dot product"
    default_loss = {"rating": "mse", "ranking": "bpr"}
    model_defaults = {"ranking": {"l2": 0.005}}
    train_defaults = {"ranking": {"patience": 3}}
    inputs = frozenset({"user_features", "item_features"})

    def __init__(self, config: TwoTowerConfig) -> None:
        super().__init__(config)
        self.user_emb = init_embedding(config.n_users, config.factors, config.init_std)
        self.item_emb = init_embedding(config.n_items, config.factors, config.init_std)
        add_features(self, config.factors, config.factors, config.init_std)
        sizes = [config.factors, *config.tower]
        self.user_tower = mlp(sizes, config.dropout, final_activation=False)
        self.item_tower = mlp(sizes, config.dropout, final_activation=False)
        #: items with training data; the others are the zero vector in training too (not saved:
        #: forget_cold zeroes their rows before a run is written)
        self.register_buffer("item_known", torch.ones(config.n_items, dtype=torch.bool), persistent=False)

    user_tables = ("user_emb",)
    item_tables = ("item_emb",)

    def fit_data(self, data: FitData) -> None:
        """For ranking, items with no train positive are only ever negatives, and forget_cold
        zeroes their rows after training: the item tower learns what the zero vector (with
        features: the features alone) scores from them in training already (docs/model-defaults.md)."""
        self.keep("item_known", torch.from_numpy(data.train.item_counts() > 0))
        keep_features(self, data)

    def _users(self, users: torch.Tensor, given: FeatureBag | None = None) -> torch.Tensor:
        return self.user_tower(with_features(self.user_emb, self.user_features, users, given))

    def _items(self, items: torch.Tensor, given: FeatureBag | None = None) -> torch.Tensor:
        known = self.item_known[items.clamp(min=0)] & (items >= 0)
        return self.item_tower(with_features(self.item_emb, self.item_features, items, given, known))

    def forward(self, batch: Batch) -> torch.Tensor:
        u = self._users(batch.users, batch.user_features)
        return (u * self._items(batch.items, batch.item_features)).sum(-1) + self.rating_offset

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        b, m = batch.items.shape
        u = self._users(batch.users, batch.user_features)  # (B, d): the user tower once per user, not per candidate
        return dot_candidates(u, self._items(batch.items.reshape(-1), batch.item_features).view(b, m, -1)) + self.rating_offset

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        dev = self.device
        return self._users(torch.arange(self.config.n_users, device=dev)), self._items(torch.arange(self.config.n_items, device=dev))

    def query_vectors(self, batch: Batch) -> torch.Tensor:
        return self._users(batch.users, batch.user_features)

    def new_item_embeddings(self, given: FeatureBag) -> torch.Tensor:
        return self._items(torch.full((len(given),), -1, device=self.device), given)
