"""The honest baseline: score every item by how often it occurs in the training data."""

from __future__ import annotations

import numpy as np
import torch

from deeprecs.batch import Batch
from deeprecs.models.base import FitData, ModelConfig, Recommender


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

    def fit_data(self, data: FitData) -> None:
        self.keep("counts", torch.from_numpy(np.bincount(data.train.items, minlength=self.config.n_items).astype(np.float32)))

    def forward(self, batch: Batch) -> torch.Tensor:
        return torch.log1p(self.counts[batch.items])

    def score_all(self, batch: Batch, chunk: int = 0) -> torch.Tensor:
        return torch.log1p(self.counts).expand(len(batch.users), -1).clone()

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.ones(self.config.n_users, 1, device=self.device), torch.log1p(self.counts).unsqueeze(1)

    def item_embeddings(self) -> None:
        return None

    def user_embeddings(self) -> None:
        return None
