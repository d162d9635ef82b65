"""What a model scores: a typed batch of users, their items, and what is known about them.

Shapes: ``B`` rows (users), ``m`` candidates per row, ``L`` history length, ``nnz`` feature ids.

- ``users (B,)`` int64 user indices (``-1``: a user the model has no row for, described only by
  the batch's own features or history);
- ``items``: ``(B,)`` one item per user (``forward``), ``(B, m)`` each user's own candidates
  (``score_candidates``), or ``None`` (``score_all``: every item);
- ``user_features``: a :class:`FeatureBag` with one bag per row of ``users``;
- ``item_features``: a :class:`FeatureBag` with one bag per entry of ``items.reshape(-1)``;
- ``history (B, L)`` int64: each user's items in time order, oldest first, left-padded with ``-1``
  (:func:`pad_histories`);
- ``history_times (B, L)`` int64: the timestamp of each item of ``history`` in the same layout (its
  padding any value), for a model that reads them (SASRec's time-aware attention); ``None``: not
  known, such a model reads the order alone.

A model reads the optional parts it declares (``Recommender.inputs``); for users and items it
was trained on it already holds what it needs (its own buffers), so the optional parts carry
what it cannot know: a new user's features or the recent items of an anonymous session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import torch

OPTIONAL_INPUTS = ("user_features", "item_features", "history")


@dataclass(frozen=True)
class FeatureBag:
    """Variable-length bags of feature ids (``nn.EmbeddingBag``'s layout): row ``r`` holds
    ``indices[offsets[r]:offsets[r + 1]]`` (the last row runs to the end), each with a weight
    (``weights``; ``None``: all 1)."""

    indices: torch.Tensor  # (nnz,) int64
    offsets: torch.Tensor  # (B,) int64, non-decreasing, offsets[0] == 0
    weights: torch.Tensor | None = None  # (nnz,) float

    def __len__(self) -> int:
        return len(self.offsets)

    @classmethod
    def from_lists(cls, rows: Sequence[Sequence[int]], weights: Sequence[Sequence[float]] | None = None,
                   device: torch.device | str | None = None) -> "FeatureBag":
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        offsets = torch.cumsum(lengths, 0) - lengths
        indices = torch.tensor([i for r in rows for i in r], dtype=torch.long)
        w = None if weights is None else torch.tensor([x for r in weights for x in r], dtype=torch.float32)
        return cls(indices, offsets, w).to(device) if device is not None else cls(indices, offsets, w)

    def to(self, device: torch.device | str) -> "FeatureBag":
        return FeatureBag(self.indices.to(device), self.offsets.to(device), None if self.weights is None else self.weights.to(device))


@dataclass(frozen=True)
class Batch:
    """See the module docstring."""

    users: torch.Tensor
    items: torch.Tensor | None = None
    user_features: FeatureBag | None = None
    item_features: FeatureBag | None = None
    history: torch.Tensor | None = None
    history_times: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.users)

    @property
    def device(self) -> torch.device:
        return self.users.device

    def to(self, device: torch.device | str) -> "Batch":
        """The batch on ``device`` (itself when it is there already)."""
        device = torch.device(device)
        if self.users.device == device and (self.items is None or self.items.device == device):
            return self
        moved = {f.name: None if getattr(self, f.name) is None else getattr(self, f.name).to(device) for f in fields(self)}
        return Batch(**moved)

    def with_items(self, items: torch.Tensor | None) -> "Batch":
        """The same users (and what is known about them) with other items."""
        return replace(self, items=items, item_features=None)

    def present(self) -> tuple[str, ...]:
        """The optional parts this batch carries."""
        return tuple(name for name in OPTIONAL_INPUTS if getattr(self, name) is not None)


def pad_histories(histories: Sequence[Sequence[int]], max_len: int | None = None,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """``(B, L)`` int64: each history's last ``max_len`` items (all, if ``None``), oldest first,
    left-padded with ``-1`` so that every row's latest item is in the last column."""
    tails = [torch.as_tensor(list(h), dtype=torch.long)[-max_len:] if max_len else torch.as_tensor(list(h), dtype=torch.long)
             for h in histories]
    lengths = torch.tensor([len(t) for t in tails], dtype=torch.long)
    width = int(lengths.max()) if len(tails) else 0
    out = torch.full((len(tails), width), -1, dtype=torch.long)
    if width:
        row = torch.repeat_interleave(torch.arange(len(tails)), lengths)
        first = torch.cumsum(lengths, 0) - lengths
        col = width - lengths[row] + torch.arange(len(row)) - first[row]
        out[row, col] = torch.cat(tails)
    return out.to(device) if device is not None else out


__all__ = ["Batch", "FeatureBag", "OPTIONAL_INPUTS", "pad_histories"]
