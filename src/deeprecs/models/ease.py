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

    #: the weights (float32) and, at most three at a time, the Gram matrix, its Cholesky factor,
    #: the inverse and the inverse's workspace (float64): 4 + 3 x 8 bytes a cell (measured: 31
    #: at 4,000 items); plus a dense block of rows of ``X`` while the Gram matrix is summed
    bytes_per_cell = 28.0
    working_bytes = 3 << 27

    def fit_data(self, data: FitData) -> None:
        """The closed form on ``data.device`` (in float64 where the device has it), through a
        Cholesky factor (the Gram matrix is symmetric positive definite), never holding more than
        two ``n_items x n_items`` float64 matrices at a time (:attr:`bytes_per_cell`)."""
        csr = data.train.tocsr()
        self.keep_rows(csr)
        dtype = torch.float64 if float64_ok(self.device) else torch.float32
        gram = item_gram(csr, self.device, dtype)
        gram.diagonal().add_(self.config.l2)
        factor = torch.linalg.cholesky(gram)
        del gram
        p = torch.cholesky_inverse(factor)
        del factor
        p.div_(p.diagonal().clone()).neg_()  # B = -P / diag(P), column-wise
        p.fill_diagonal_(0.0)
        self.weights.data.copy_(p)


def item_gram(csr, device: torch.device, dtype: torch.dtype, chunk_bytes: int = 1 << 27) -> torch.Tensor:  # noqa: ANN001 - scipy CSR
    """``X^T X`` (``n_items x n_items``, ``dtype``, on ``device``) of the CSR matrix ``X``,
    accumulated over dense blocks of rows of at most ``chunk_bytes``: never ``X`` densely."""
    n_rows, n_items = csr.shape
    gram = torch.zeros(n_items, n_items, dtype=dtype, device=device)
    step = max(1, chunk_bytes // max(n_items * torch.finfo(dtype).bits // 8, 1))
    for start in range(0, n_rows, step):
        x = torch.from_numpy(csr[start : start + step].toarray()).to(device=device, dtype=dtype)
        gram.addmm_(x.T, x)
    return gram
