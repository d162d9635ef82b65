"""Exact top-K over the whole catalogue, in batches of users, seen items excluded."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from deeprecs.models.base import Recommender


def mask_rows(scores: torch.Tensor, rows: sp.csr_matrix) -> None:
    """Set ``scores[b, j] = -inf`` wherever ``rows[b, j]`` is stored (in place)."""
    coo = rows.tocoo()
    if coo.nnz:
        scores[torch.from_numpy(coo.row.astype(np.int64)), torch.from_numpy(coo.col.astype(np.int64))] = -torch.inf


@torch.no_grad()
def topk(
    model: Recommender,
    users: np.ndarray | torch.Tensor,
    k: int,
    exclude: sp.csr_matrix | None = None,
    batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """``users (B,)`` -> ``(items (B, k), scores (B, k))``, best first.

    ``exclude``: ``(n_users, n_items)`` CSR of items never to recommend (the user's seen items).
    Where fewer than ``k`` items remain for a user, the tail holds item ``-1`` with score ``-inf``.
    """
    model.eval()
    users = torch.as_tensor(np.asarray(users), dtype=torch.long)
    k = min(k, model.config.n_items)
    out_items = np.empty((len(users), k), dtype=np.int64)
    out_scores = np.empty((len(users), k), dtype=np.float32)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = model.score_all(batch).float()
        if exclude is not None:
            mask_rows(scores, exclude[batch.numpy()])
        s, i = torch.topk(scores, k, dim=1)
        i[torch.isneginf(s)] = -1
        out_items[start : start + len(batch)] = i.numpy()
        out_scores[start : start + len(batch)] = s.numpy()
    return out_items, out_scores


@torch.no_grad()
def similar_items(model: Recommender, items: np.ndarray | torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of item embeddings: ``items (B,)`` -> ``(items (B, k), similarity (B, k))``,
    the query item itself excluded."""
    emb = model.item_embeddings()
    if emb is None:
        from deeprecs.errors import ConfigError

        raise ConfigError(f"model {model.name!r} has no item embeddings to compare")
    emb = F.normalize(emb.detach().float(), dim=1)
    items = torch.as_tensor(np.asarray(items), dtype=torch.long)
    sims = emb[items] @ emb.T
    sims[torch.arange(len(items)), items] = -torch.inf
    k = min(k, emb.shape[0] - 1)
    s, i = torch.topk(sims, k, dim=1)
    return i.numpy(), s.numpy()
