"""I-AutoRec (Sedhain et al., WWW 2015): an item-based autoencoder over rating vectors.

Each item is the vector of its ratings by all users ``r_i (n_users,)`` (0 where unrated); the
network reconstructs it, ``h = sigmoid(V r_i + mu)``, ``r_hat_i = W h + b``, and the loss counts
only the observed entries. The prediction for ``(u, i)`` is ``r_hat_i[u]``. The training data
the network reads at prediction time is stored in the state dict (as CSR buffers), so a saved
run predicts exactly what the trained model did.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

from deeprecs.batch import Batch
from deeprecs.models.base import FitData, ModelConfig, Recommender
from deeprecs.models.layers import csr_gather
from deeprecs.search import float_range, int_range
class AutoRecConfig(ModelConfig):
    hidden: int = Field(500, ge=1, description="hidden units", json_schema_extra=int_range(100, 1000, log=True))
    l2: float = Field(50.0, ge=0, description="L2 on the weight matrices (lambda/2 ||W||^2, per batch of items)", json_schema_extra=float_range(1.0, 200.0, log=True))
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the input ratings", json_schema_extra=float_range(0.0, 0.5))


class ItemRowsTask:
    """Mini-batches of items: masked reconstruction MSE over each item's observed ratings."""

    name = "rating"

    weights = None

    def __init__(self, train) -> None:  # noqa: ANN001 - Interactions
        self.n = train.n_items
        self.n_obs = max(len(train), 1)

    def __len__(self) -> int:
        return self.n

    def prepare(self, model: "AutoRec") -> None:
        pass

    def loss(self, model: "AutoRec", idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        r, mask = model.item_rows(idx)
        pred = model.reconstruct(r)
        sse = ((pred - r) * mask).pow(2).sum()
        n_obs = mask.sum().clamp(min=1)
        reg = 0.5 * model.config.l2 * (model.encoder.weight.pow(2).sum() + model.decoder.weight.pow(2).sum())
        return (sse + reg * len(idx) / model.config.n_items) / n_obs


class AutoRec(Recommender):
    """I-AutoRec: reconstruct each item's rating vector; ``predict(u, i) = r_hat_i[u]``."""

    Config = AutoRecConfig
    name = "autorec"
    tasks = ("rating",)
    summary = "I-AutoRec: item-based autoencoder over rating vectors (explicit ratings)"
    default_loss = {"rating": "mse"}
    train_defaults = {"rating": {"lr": 1e-3, "batch_size": 64, "epochs": 200, "patience": 15, "optimizer": "adam"}}

    def __init__(self, config: AutoRecConfig) -> None:
        super().__init__(config)
        self.encoder = nn.Linear(config.n_users, config.hidden)
        self.decoder = nn.Linear(config.hidden, config.n_users)
        self.drop = nn.Dropout(config.dropout)
        self.register_buffer("indptr", torch.zeros(config.n_items + 1, dtype=torch.long))
        self.register_buffer("row_users", torch.zeros(0, dtype=torch.long))
        self.register_buffer("row_ratings", torch.zeros(0))

    def fit_data(self, data: FitData) -> None:
        train = data.train
        csc = train.tocsr(values="ratings").tocsc()
        csc.sort_indices()
        self.keep("indptr", torch.from_numpy(csc.indptr.astype(np.int64)))
        self.keep("row_users", torch.from_numpy(csc.indices.astype(np.int64)))
        self.keep("row_ratings", torch.from_numpy(csc.data.astype(np.float32)))
        self.rating_offset.fill_(float(train.ratings.mean()) if train.ratings is not None and len(train) else 0.0)

    def make_task(self, task: str, data: FitData, cfg) -> ItemRowsTask:  # noqa: ANN001 - TrainConfig
        """Mini-batches of items (each item's rating vector), not of ratings."""
        return ItemRowsTask(data.train)

    def item_rows(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B,)`` items -> dense ``(B, n_users)`` ratings and the observed mask."""
        rows, flat, _ = csr_gather(self.indptr, items)
        r = torch.zeros(len(items), self.config.n_users, device=self.device)
        mask = torch.zeros(len(items), self.config.n_users, device=self.device)
        r[rows, self.row_users[flat]] = self.row_ratings[flat]
        mask[rows, self.row_users[flat]] = 1.0
        return r, mask

    def reconstruct(self, r: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.sigmoid(self.encoder(self.drop(r))))

    def forward(self, batch: Batch) -> torch.Tensor:
        users, items = batch.users, batch.items
        uniq, inverse = torch.unique(items, return_inverse=True)
        r, _ = self.item_rows(uniq)
        out = self.reconstruct(r)[inverse, users]
        # Items with no training ratings: the network's output is meaningless; use the mean.
        cold = (self.indptr[items + 1] - self.indptr[items]) == 0
        return torch.where(cold, self.rating_offset.expand_as(out), out)

    def score_all(self, batch: Batch, chunk: int = 512) -> torch.Tensor:
        users = batch.users
        out = torch.empty(len(users), self.config.n_items, device=self.device)
        for start in range(0, self.config.n_items, chunk):
            items = torch.arange(start, min(start + chunk, self.config.n_items), device=self.device)
            r, _ = self.item_rows(items)
            out[:, start : start + len(items)] = self.reconstruct(r)[:, users].T
        cold = (self.indptr[1:] - self.indptr[:-1]) == 0  # as in forward: the mean for unrated items
        out[:, cold] = self.rating_offset
        return out

    def item_embeddings(self) -> torch.Tensor:
        """The hidden code of each item's rating vector."""
        codes = []
        for start in range(0, self.config.n_items, 512):
            r, _ = self.item_rows(torch.arange(start, min(start + 512, self.config.n_items), device=self.device))
            codes.append(torch.sigmoid(self.encoder(r)))
        return torch.cat(codes)

    def user_embeddings(self) -> torch.Tensor:
        return self.decoder.weight
