"""Exact top-K over the whole catalogue, in batches of users, seen items excluded, on the model's device.

:func:`top_k` is the one exact top-K of the toolkit (recommendations, similar items, fold-in, the
reference the ANN index is measured against, the service's live path): ``torch.topk`` with the
rows' ``-inf`` entries (excluded items) turned into item ``-1``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch.nn import functional as F

from deeprecs.batch import Batch
from deeprecs.errors import ConfigError
from deeprecs.models.base import Recommender


def top_k(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``scores (B, n)`` -> ``(items (B, k), scores (B, k))``, best first, ``k`` capped at ``n``;
    where fewer than ``k`` entries are finite (the rest excluded as ``-inf``), the tail holds item
    ``-1`` with score ``-inf``."""
    s, i = torch.topk(scores, min(k, scores.shape[1]), dim=1)
    return i.masked_fill(torch.isneginf(s), -1), s


def mask_rows(scores: torch.Tensor, rows: sp.csr_matrix) -> None:
    """Set ``scores[b, j] = -inf`` wherever ``rows[b, j]`` is stored (in place, on ``scores``' device)."""
    coo = rows.tocoo()
    if coo.nnz:
        index = torch.from_numpy(coo.row.astype(np.int64)).to(scores.device), torch.from_numpy(coo.col.astype(np.int64)).to(scores.device)
        scores[index] = -torch.inf


@torch.no_grad()
def topk(
    model: Recommender,
    users: np.ndarray | torch.Tensor,
    k: int,
    exclude: sp.csr_matrix | None = None,
    batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """``users (B,)`` -> ``(items (B, k), scores (B, k))`` numpy, best first.

    ``exclude``: ``(n_users, n_items)`` CSR of items never to recommend (the user's seen items).
    Where fewer than ``k`` items remain for a user, the tail holds item ``-1`` with score ``-inf``.
    Each batch is scored and ranked on the model's device; only the ``k`` winners come back.
    """
    model.eval()
    users = torch.as_tensor(np.asarray(users), dtype=torch.long)
    k = min(k, model.config.n_items)
    out_items = np.empty((len(users), k), dtype=np.int64)
    out_scores = np.empty((len(users), k), dtype=np.float32)
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = model.score_all(Batch(batch.to(model.device))).float()
        if exclude is not None:
            mask_rows(scores, exclude[batch.numpy()])
        i, s = top_k(scores, k)
        out_items[start : start + len(batch)] = i.cpu().numpy()
        out_scores[start : start + len(batch)] = s.cpu().numpy()
    return out_items, out_scores


@torch.no_grad()
def similar_items(model: Recommender, items: np.ndarray | torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of item embeddings: ``items (B,)`` -> ``(items (B, k), similarity (B, k))``,
    the query item itself excluded."""
    emb = model.item_embeddings()
    if emb is None:
        raise ConfigError(f"model {model.name!r} has no item embeddings to compare")
    emb = F.normalize(emb.detach().float(), dim=1)
    items = torch.as_tensor(np.asarray(items), dtype=torch.long, device=emb.device)
    sims = emb[items] @ emb.T
    sims[torch.arange(len(items), device=emb.device), items] = -torch.inf
    i, s = top_k(sims, min(k, emb.shape[0] - 1))
    return i.cpu().numpy(), s.cpu().numpy()


__all__ = ["mask_rows", "similar_items", "top_k", "topk"]
