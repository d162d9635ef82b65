"""Approximate top-K with a faiss HNSW graph over the item retrieval vectors (inner product).

Works for any model with ``retrieval_vectors()``: ``score(u, i) = U[u] . V[i] + c``, so the
items with the largest inner product are the top-K. Seen items are removed by over-fetching
``k + (most items seen by a user in the batch)`` candidates and filtering them out.
"""

from __future__ import annotations

import faiss
import numpy as np
import scipy.sparse as sp
import torch

from deeprecs.errors import ConfigError
from deeprecs.models.base import Recommender
from deeprecs.retrieval.topk import top_k


class HNSWIndex:
    """``search(queries (B, d), k, exclude) -> (items (B, k), scores (B, k))``, best first;
    rows with fewer than ``k`` results are padded with item ``-1`` and score ``-inf``.

    ``m``: graph degree; ``ef_construction``: build-time beam; ``ef_search``: query-time beam
    (recall vs speed; raised to the number of candidates a query asks for)."""

    def __init__(self, item_vectors: np.ndarray, m: int = 32, ef_construction: int = 200, ef_search: int = 128,
                 constant: float = 0.0) -> None:
        vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
        self.n_items, self.dim = vectors.shape
        self.index = faiss.IndexHNSWFlat(self.dim, m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.index.add(vectors)
        self.ef_search = ef_search
        self.constant = float(constant)

    @classmethod
    def from_model(cls, model: Recommender, **options) -> "HNSWIndex":
        vectors = model.retrieval_vectors()
        if vectors is None:
            raise ConfigError(f"model {model.name!r} has no retrieval vectors; approximate search needs a factor model")
        return cls(vectors[1].detach().cpu().numpy(), constant=float(model.score_constant()), **options)

    def search(self, queries: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``exclude``: ``(B, n_items)`` CSR of items to drop, row ``b`` for query ``b``."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = min(k, self.n_items)
        extra = 0 if exclude is None or exclude.nnz == 0 else int(np.diff(exclude.indptr).max())
        fetch = min(k + extra, self.n_items)
        params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, fetch))
        scores, items = self.index.search(queries, fetch, params=params)
        if exclude is not None and extra:
            rows = np.repeat(np.arange(len(queries)), items.shape[1])
            drop = np.asarray(exclude[rows, np.maximum(items, 0).ravel()]).reshape(items.shape) != 0
            items = np.where(drop, -1, items)
        keep = items >= 0
        order = np.argsort(~keep, axis=1, kind="stable")[:, :k]  # kept candidates first, rank order kept
        items, scores = np.take_along_axis(items, order, 1), np.take_along_axis(scores, order, 1) + self.constant
        scores[items < 0] = -np.inf
        return items.astype(np.int64), scores.astype(np.float32)


def exact_search(queries: np.ndarray, item_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force inner-product top-``k`` (the reference ANN is measured against)."""
    i, s = top_k(torch.from_numpy(queries) @ torch.from_numpy(item_vectors).T, k)
    return i.numpy(), s.numpy()


__all__ = ["HNSWIndex", "exact_search"]
