"""Per-row bags of ids a model keeps as buffers (features of its users or items, a user's rated items),
and a side's feature embeddings built on them.

A model reads what it knows about its own users and items from these buffers (saved with its
weights); a batch's :class:`~deeprecs.batch.FeatureBag` describes rows it has no id for (``-1``).
"""

from __future__ import annotations

import torch
from torch import nn

from deeprecs.batch import FeatureBag
from deeprecs.models.layers import csr_gather, init_embedding


class RowBags(nn.Module):
    """CSR buffers: row ``r``'s ids are ``indices[indptr[r]:indptr[r + 1]]`` with ``weights``."""

    def __init__(self, n_rows: int) -> None:
        super().__init__()
        self.register_buffer("indptr", torch.zeros(n_rows + 1, dtype=torch.long))
        self.register_buffer("indices", torch.zeros(0, dtype=torch.long))
        self.register_buffer("weights", torch.zeros(0))

    def keep(self, indptr: torch.Tensor, indices: torch.Tensor, weights: torch.Tensor) -> None:
        device = self.indptr.device
        self.indptr, self.indices, self.weights = indptr.long().to(device), indices.long().to(device), weights.float().to(device)

    def keep_table(self, table) -> None:  # noqa: ANN001 - deeprecs.data.features.FeatureTable
        self.keep(torch.from_numpy(table.indptr), torch.from_numpy(table.indices), torch.from_numpy(table.weights))

    def entries(self, rows: torch.Tensor, given: FeatureBag | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(row in the batch, id, weight)`` of each entry of ``rows``' bags, in row order: the
        buffers' (rows ``-1``: none), or with ``given`` the batch's own bags for every row."""
        if given is not None:
            ends = torch.cat([given.offsets[1:], given.offsets.new_tensor([len(given.indices)])])
            row = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), (ends - given.offsets)[: len(rows)])
            x = given.weights if given.weights is not None else torch.ones(len(given.indices), device=rows.device)
            return row, given.indices, x
        known = rows >= 0
        batch_row, pos, _ = csr_gather(self.indptr, torch.where(known, rows, torch.zeros_like(rows)))
        keep = known[batch_row]
        return batch_row[keep], self.indices[pos[keep]], self.weights[pos[keep]]


def bag_sum(weight: torch.Tensor, entries: tuple[torch.Tensor, torch.Tensor, torch.Tensor], n: int) -> torch.Tensor:
    """``(n, d)``: each row's ``sum x E[id]`` over its entries (one fused ``embedding_bag``)."""
    row, ids, x = entries
    counts = torch.bincount(row, minlength=n)
    return nn.functional.embedding_bag(ids, weight, torch.cumsum(counts, 0) - counts, mode="sum", per_sample_weights=x)


class SideFeatures(nn.Module):
    """One side's features as a vector per row: ``sum_f x_f E[f]`` (zeros where there are none)."""

    def __init__(self, n_rows: int, n_features: int, dim: int, std: float) -> None:
        super().__init__()
        self.n_features, self.dim = n_features, dim
        self.emb = init_embedding(max(n_features, 1), dim, std)
        self.bags = RowBags(n_rows)

    def forward(self, rows: torch.Tensor, given: FeatureBag | None = None) -> torch.Tensor:
        if not self.n_features:
            return self.emb.weight.new_zeros(len(rows), self.dim)
        return bag_sum(self.emb.weight, self.bags.entries(rows, given), len(rows))


#: feature embeddings start this much smaller than id embeddings: a feature is shared by many ids, so
#: at the ids' scale the features' sum swamps each id's own vector from the first step
FEATURE_INIT = 0.1


def add_features(model: nn.Module, user_dim: int, item_dim: int, std: float) -> None:
    """Give ``model`` its sides' feature embeddings (``user_features``, ``item_features``), sized by
    its config's ``n_user_features``/``n_item_features`` (0: none; the vectors are its ids' alone)."""
    c = model.config
    model.user_features = SideFeatures(c.n_users, c.n_user_features, user_dim, std * FEATURE_INIT)
    model.item_features = SideFeatures(c.n_items, c.n_item_features, item_dim, std * FEATURE_INIT)


def keep_features(model: nn.Module, data) -> None:  # noqa: ANN001 - FitData
    """Keep ``data``'s feature tables (aligned to the ids) as ``model``'s buffers."""
    for side, table in (("user", data.user_features), ("item", data.item_features)):
        if table is not None and getattr(model.config, f"n_{side}_features"):
            getattr(model, f"{side}_features").bags.keep_table(table)


def with_features(ids_emb: nn.Embedding, features: SideFeatures, rows: torch.Tensor, given: FeatureBag | None = None,
                  known: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, d)``: each row's id embedding (zero for ids ``-1``, or where ``known`` is False) plus its
    features' (LightFM's hybrid vector; a row without an id is its features alone)."""
    keep = rows >= 0 if known is None else known
    vectors = ids_emb(rows.clamp(min=0)) * keep.unsqueeze(-1)
    return vectors + features(rows, given) if features.n_features or given is not None else vectors


__all__ = ["RowBags", "SideFeatures", "add_features", "bag_sum", "keep_features", "with_features"]
