"""The honest baseline: score every item by how often it occurs in the training data."""

from __future__ import annotations

import numpy as np
import torch

from deeprecs.models.base import ModelConfig, Recommender


class Popularity(Recommender):
    """``score(u, i) = log(1 + count(i))``, the same for every user. Nothing to train."""

    Config = ModelConfig
    name = "popularity"
    tasks = ("ranking",)
    summary = "item popularity baseline (training counts); no parameters"
    default_loss = {"ranking": "none"}

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.register_buffer("counts", torch.zeros(config.n_items))

    def fit_extra(self, train) -> None:  # noqa: ANN001
        self.counts = torch.from_numpy(np.bincount(train.items, minlength=self.config.n_items).astype(np.float32))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.log1p(self.counts[items])

    def score_all(self, users: torch.Tensor, chunk: int = 0) -> torch.Tensor:
        return torch.log1p(self.counts).expand(len(users), -1).clone()

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ones(self.config.n_users, 1), torch.log1p(self.counts).unsqueeze(1)

    def item_embeddings(self) -> None:
        return None

    def user_embeddings(self) -> None:
        return None
