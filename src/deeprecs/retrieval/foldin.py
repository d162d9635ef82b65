"""Fold in a new (anonymous) user from the items they like, without retraining.

A sequential model (one that reads ``history``: SASRec, GRU4Rec) takes the list in the order
given, oldest first, as the user's recent items, and scores the next item from it.

An item-item model (EASE, RP3beta) scores a new user exactly: the liked list is the row it
multiplies (``score_liked``). For a factor model, see below.

For a factor model with ``score(u, i) = U[u] . V[i] + c`` the new user's vector solves the
implicit-ALS objective over the item retrieval vectors (``V`` fixed)::

    min_u  sum_i w_i (p_i - V[i] . u)^2 + reg |u|^2,   p_i = target, w_i = 1 + alpha for liked i,
                                                        p_i = 0,      w_i = 1         otherwise
    =>  (V^T V + alpha V_L^T V_L + reg I) u = (1 + alpha) target V_L^T 1

a ridge regression whose ``V^T V`` term (shared by every user, computed once) discounts
directions every item shares, so the answer favours items that co-occur with the liked ones
rather than merely popular ones. A batch of users is solved with one batched ``linalg.solve``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from deeprecs.batch import Batch, pad_histories
from deeprecs.devices import float64_ok
from deeprecs.errors import ConfigError
from deeprecs.models.base import Recommender, reads_history
from deeprecs.retrieval.topk import mask_rows, top_k


def liked_matrix(liked: Sequence[Sequence[int]], n_items: int) -> sp.csr_matrix:
    """``(B, n_items)`` 0/1 CSR of each row's liked item indices (duplicates merged)."""
    rows = np.repeat(np.arange(len(liked)), [len(x) for x in liked])
    cols = np.concatenate([np.asarray(x, dtype=np.int64) for x in liked]) if len(rows) else np.zeros(0, np.int64)
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(liked), n_items))
    m.data[:] = 1.0
    return m


@torch.no_grad()
def fold_in(item_vectors: torch.Tensor, liked: sp.csr_matrix, reg: float = 0.1, alpha: float = 20.0,
            target: float = 1.0, gram: torch.Tensor | None = None) -> torch.Tensor:
    """``V (n_items, d)``, ``liked (B, n_items)`` CSR -> user vectors ``(B, d)``, on ``V``'s device
    (in float64 where the device has it).

    ``gram``: ``V^T V`` if already computed (it is the same for every call)."""
    dev = item_vectors.device
    dtype = torch.float64 if float64_ok(dev) else torch.float32
    v = item_vectors.detach().to(dtype)
    d = v.shape[1]
    g = v.T @ v if gram is None else gram.to(device=dev, dtype=dtype)
    coo = liked.tocoo()
    rows = torch.from_numpy(coo.row.astype(np.int64)).to(dev)
    vl = v[torch.from_numpy(coo.col.astype(np.int64)).to(dev)]
    b = liked.shape[0]
    a = g.expand(b, d, d).clone() + reg * torch.eye(d, dtype=dtype, device=dev)
    a.index_add_(0, rows, alpha * vl[:, :, None] * vl[:, None, :])
    rhs = torch.zeros(b, d, dtype=dtype, device=dev).index_add_(0, rows, (1 + alpha) * target * vl)
    return torch.linalg.solve(a, rhs).to(item_vectors.dtype)


@torch.no_grad()
def recommend_liked(model: Recommender, liked: Sequence[Sequence[int]], k: int, reg: float = 0.1,
                    alpha: float = 20.0, gram: torch.Tensor | None = None,
                    times: Sequence[Sequence[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` items for new users given their liked item indices (liked items excluded; for a
    sequential model, in time order, oldest first, seen at ``times`` where given):
    ``(items (B, k), scores (B, k))`` like :func:`deeprecs.retrieval.topk`."""
    score_liked = getattr(model, "score_liked", None)
    if reads_history(model):  # a sequential model: each list is a session, oldest first, scored as it stands
        m = liked_matrix(liked, model.config.n_items)
        users = torch.full((len(liked),), -1, dtype=torch.long, device=model.device)
        stamps = pad_histories(times, device=model.device) if times is not None else None  # the padding's: never read
        scores = model.score_all(Batch(users, history=pad_histories(liked, device=model.device), history_times=stamps))
    elif score_liked is not None:  # an item-item model: a new user's liked list is all it scores from
        m = liked_matrix(liked, model.config.n_items)
        scores = score_liked(torch.from_numpy(m.toarray()).to(model.device))
    else:
        vectors = model.retrieval_vectors()
        if vectors is None:
            raise ConfigError(f"model {model.name!r} is neither a factor nor an item-item model; it cannot fold in new users")
        v = vectors[1].detach().float()
        m = liked_matrix(liked, v.shape[0])
        scores = fold_in(v, m, reg, alpha, gram=gram) @ v.T + model.score_constant()
    mask_rows(scores, m)
    i, s = top_k(scores, k)
    return i.cpu().numpy(), s.cpu().numpy()


__all__ = ["fold_in", "liked_matrix", "recommend_liked"]
