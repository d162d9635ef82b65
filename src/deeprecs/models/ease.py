"""EASE (Steck, WWW 2019): a closed-form item-item linear autoencoder for positive-only data.

``B = argmin ||X - X B||^2 + l2 ||B||^2`` subject to ``diag(B) = 0`` has the closed form
``P = (X^T X + l2 I)^-1``, ``B = -P / diag(P)`` (column-wise), ``diag(B) = 0``. A user's scores
are ``X[u] @ B``: what co-occurs with what they have. No epochs: it is fitted in one solve
(seconds for a few thousand items), a strong, honest baseline for ranking.
"""

from __future__ import annotations

import torch
from pydantic import Field

from deeprecs.devices import float64_ok
from deeprecs.models.base import FitData, ModelConfig
from deeprecs.models.itemitem import ItemItemModel
from deeprecs.search import float_range


class EASEConfig(ModelConfig):
    l2: float = Field(1000.0, gt=0, description="ridge penalty lambda", json_schema_extra=float_range(10.0, 10000.0, log=True))


class EASE(ItemItemModel):
    """``score(u, i) = (X[u] @ B)[i]`` with ``B`` the closed-form EASE item-item matrix."""

    Config = EASEConfig
    name = "ease"
    summary = "EASE: closed-form item-item autoencoder (one linear solve, no epochs)"

    def fit_data(self, data: FitData) -> None:
        """The closed form on ``data.device`` (in float64 where the device has it)."""
        csr = data.train.tocsr()
        self.keep_rows(csr)
        x = torch.from_numpy(csr.toarray()).to(self.device)
        gram = (x.T @ x).to(torch.float64 if float64_ok(self.device) else torch.float32)
        gram.diagonal().add_(self.config.l2)
        p = torch.linalg.inv(gram)
        b = -p / p.diagonal()
        b.fill_diagonal_(0.0)
        self.weights.data = b.float()
