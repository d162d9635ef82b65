"""EASE (Steck, WWW 2019): a closed-form item-item linear autoencoder for positive-only data.

``B = argmin ||X - X B||^2 + l2 ||B||^2`` subject to ``diag(B) = 0`` has the closed form
``P = (X^T X + l2 I)^-1``, ``B = -P / diag(P)`` (column-wise), ``diag(B) = 0``. A user's scores
are ``X[u] @ B``: what co-occurs with what they have. No epochs: it is fitted in one solve
(seconds for a few thousand items), a strong, honest baseline for ranking.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field

from deeprecs.models.base import ModelConfig, Recommender, csr_gather


class EASEConfig(ModelConfig):
    l2: float = Field(1000.0, gt=0, description="ridge penalty lambda (chosen on the ncf-ml-1m validation hold-out)")


class EASE(Recommender):
    """``score(u, i) = (X[u] @ B)[i]`` with ``B`` the closed-form EASE item-item matrix."""

    Config = EASEConfig
    name = "ease"
    tasks = ("ranking",)
    summary = "EASE: closed-form item-item autoencoder (one linear solve, no epochs)"
    default_loss = {"ranking": "none"}

    def __init__(self, config: EASEConfig) -> None:
        super().__init__(config)
        # learned in closed form, never by gradients: a parameter (it counts) without grad
        self.weights = torch.nn.Parameter(torch.zeros(config.n_items, config.n_items), requires_grad=False)
        self.register_buffer("indptr", torch.zeros(config.n_users + 1, dtype=torch.long))
        self.register_buffer("indices", torch.zeros(0, dtype=torch.long))

    def fit_extra(self, train) -> None:  # noqa: ANN001 - Interactions
        csr = train.tocsr()
        self.indptr = torch.from_numpy(csr.indptr.astype(np.int64))
        self.indices = torch.from_numpy(csr.indices.astype(np.int64))
        x = torch.from_numpy(csr.toarray())
        gram = (x.T @ x).double()
        gram.diagonal().add_(self.config.l2)
        p = torch.linalg.inv(gram)
        b = -p / p.diagonal()
        b.fill_diagonal_(0.0)
        self.weights.data = b.float()

    def user_rows(self, users: torch.Tensor) -> torch.Tensor:
        """``(B,)`` users -> dense ``(B, n_items)`` 0/1 rows of their training items."""
        rows, flat, _ = csr_gather(self.indptr, users)
        x = torch.zeros(len(users), self.config.n_items)
        x[rows, self.indices[flat]] = 1.0
        return x

    def score_all(self, users: torch.Tensor, chunk: int = 0) -> torch.Tensor:
        return self.user_rows(users) @ self.weights

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        uniq, inverse = torch.unique(users, return_inverse=True)
        return self.score_all(uniq)[inverse, items]

    def item_embeddings(self) -> torch.Tensor:
        """Each item's column of co-occurrence weights (used for similar items)."""
        return self.weights.T
