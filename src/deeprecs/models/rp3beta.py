"""RP3beta (Paudel et al., ACM TiiS 2017): a three-step random walk item-user-item, popularity-penalised.

With ``P_ui`` the row-normalised user-item matrix (a user's step to one of their items) and
``P_iu`` the row-normalised item-user matrix (an item's step to one of its users),
``W = (P_iu ** alpha) @ (P_ui ** alpha)`` is the probability of walking item -> user -> item;
column ``j`` is divided by ``popularity_j ** beta`` so that the walk's pull towards popular
items is tempered, and ``diag(W) = 0``. A user's scores are ``X[u] @ W``. No epochs: one sparse
product (a dense ``n_items x n_items`` result, so for catalogues up to some tens of thousands of
items, like EASE). Dacrema et al. (RecSys 2019) found it a hard baseline to beat; here it ranks
the long tail better than the factor models (per-user AUC, benchmarks/implicit_feedback.py).

``neighbors = K`` keeps only each item's ``K`` largest walk weights (Dacrema et al.'s ``topK``):
a sparser walk that ranks the top of the list better (ncf-ml-1m sampled HR@10 0.629 -> 0.658 at
100) but ties most of a user's items at 0, which per-user AUC punishes (ML-100K ua 0.941 ->
0.921); ``deeprecs train rp3beta`` picks 0 or 100 on the validation part unless it is given.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from deeprecs.models.base import FitData, ModelConfig
from deeprecs.models.itemitem import ItemItemModel
from deeprecs.search import choice, float_range


class RP3betaConfig(ModelConfig):
    alpha: float = Field(1.0, gt=0, description="exponent on the transition probabilities", json_schema_extra=float_range(0.5, 1.5))
    beta: float = Field(0.6, ge=0, description="popularity penalty: column j is divided by popularity_j ** beta "
                        "(`deeprecs train rp3beta` picks it from 0.6 and 0.8 on the validation part unless given)", json_schema_extra=float_range(0.0, 1.0))
    neighbors: int = Field(0, ge=0, description="keep each item's this many largest walk weights, the rest 0 "
                           "(Dacrema et al.'s topK; 0: all)", json_schema_extra=choice(0, 50, 100, 200))


class RP3beta(ItemItemModel):
    """``score(u, i) = (X[u] @ W)[i]``, ``W`` the popularity-penalised item-user-item walk."""

    Config = RP3betaConfig
    name = "rp3beta"
    summary = "RP3beta: item-user-item random walk with a popularity penalty (closed form, no epochs)"
    #: both depend on the data (docs/model-defaults.md): a closed-form fit each, seconds on ML-1M
    grid = {"neighbors": (0, 100), "beta": (0.6, 0.8)}

    #: the weights alone (float32): the walk is computed a block of item rows at a time
    bytes_per_cell = 4.0
    #: bytes of one block of rows of the walk (float64); with its sparse product, its float32 copy
    #: and the selection of the largest, about five times that
    block_bytes = 1 << 26
    working_bytes = 5 * block_bytes

    def fit_data(self, data: FitData) -> None:
        """The walk a block of item rows at a time, each written into the float32 weights on the
        device: no dense ``n_items x n_items`` float64 matrix (:attr:`block_bytes` a block)."""
        csr = data.train.tocsr().astype(np.float64)
        csr.data[:] = 1.0
        self.keep_rows(csr)
        user_deg = np.asarray(csr.sum(1)).ravel()
        item_deg = np.asarray(csr.sum(0)).ravel()
        a = self.config.alpha
        p_ui = sp.diags(1.0 / np.maximum(user_deg, 1.0) ** a) @ csr  # (row-normalised) ** alpha: binary X
        p_iu = sp.diags(1.0 / np.maximum(item_deg, 1.0) ** a) @ csr.T.tocsr()
        penalty = np.maximum(item_deg, 1.0)[None, :] ** self.config.beta
        n = p_iu.shape[0]
        step = max(1, self.block_bytes // max(8 * n, 1))
        for start in range(0, n, step):
            w = np.asarray((p_iu[start : start + step] @ p_ui).todense())
            w /= penalty
            w[np.arange(len(w)), start + np.arange(len(w))] = 0.0  # the diagonal
            keep_largest(w, self.config.neighbors)
            self.weights.data[start : start + len(w)] = torch.from_numpy(w.astype(np.float32)).to(self.device)


def keep_largest(w: np.ndarray, k: int) -> None:
    """Zero all but the ``k`` largest entries of each row of ``w``, in place (``k`` 0 or at least
    the width: keep all)."""
    if 0 < k < w.shape[1]:
        np.put_along_axis(w, np.argpartition(-w, k, axis=1)[:, k:], 0.0, axis=1)
