"""Item-item models: ``score(u, i) = (X[u] @ W)[i]``, a user's 0/1 training row times an item-item matrix.

The closed-form models (EASE, RP3beta) differ only in how ``W`` is fitted (``fit_data``);
scoring, pairwise scores, similar items and new users (a list of liked items: exactly the row
``X[u]`` a trained user has, so no approximation) are shared here.
"""

from __future__ import annotations

import numpy as np
import torch

from deeprecs.batch import Batch
from deeprecs.memory import square_bytes
from deeprecs.models.base import Recommender
from deeprecs.models.layers import csr_gather


class ItemItemModel(Recommender):
    """Holds ``weights`` (``n_items x n_items``, fitted in closed form, never by gradients) and
    each training user's item list (CSR buffers), so that a saved run scores on its own."""

    tasks = ("ranking",)
    default_loss = {"ranking": "none"}
    #: peak bytes per cell of ``n_items x n_items`` while fitting (the weights' 4 included)
    bytes_per_cell: float = 4.0
    #: plus this many bytes of working space of the fit's own, whatever the catalogue
    working_bytes: int = 0

    @classmethod
    def memory_estimate(cls, options: dict, n_users: int, n_items: int) -> int:  # noqa: ARG003
        return square_bytes(n_items, cls.bytes_per_cell) + cls.working_bytes

    def __init__(self, config) -> None:  # noqa: ANN001 - the subclass's config
        super().__init__(config)
        # a parameter (it counts, it is saved) without gradients
        self.weights = torch.nn.Parameter(torch.zeros(config.n_items, config.n_items), requires_grad=False)
        self.register_buffer("indptr", torch.zeros(config.n_users + 1, dtype=torch.long))
        self.register_buffer("indices", torch.zeros(0, dtype=torch.long))

    def keep_rows(self, csr) -> None:  # noqa: ANN001 - scipy CSR
        self.keep("indptr", torch.from_numpy(csr.indptr.astype(np.int64)))
        self.keep("indices", torch.from_numpy(csr.indices.astype(np.int64)))

    def user_rows(self, users: torch.Tensor) -> torch.Tensor:
        """``(B,)`` users -> dense ``(B, n_items)`` 0/1 rows of their training items."""
        rows, flat, _ = csr_gather(self.indptr, users)
        x = torch.zeros(len(users), self.config.n_items, device=self.device)
        x[rows, self.indices[flat]] = 1.0
        return x

    def score_all(self, batch: Batch, chunk: int = 0) -> torch.Tensor:
        return self.user_rows(batch.users) @ self.weights

    def score_liked(self, liked: torch.Tensor) -> torch.Tensor:
        """``(B, n_items)`` 0/1 rows of new users' liked items -> their scores (exact fold-in)."""
        return liked.float() @ self.weights

    def forward(self, batch: Batch) -> torch.Tensor:
        uniq, inverse = torch.unique(batch.users, return_inverse=True)
        return self.score_all(Batch(uniq))[inverse, batch.items]

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        uniq, inverse = torch.unique(batch.users, return_inverse=True)
        return self.score_all(Batch(uniq))[inverse.unsqueeze(1), batch.items]

    def item_embeddings(self) -> torch.Tensor:
        """Each item's column of ``W`` (used for similar items)."""
        return self.weights.T
