"""Which items a position of a sequence leaves out of its negatives (the sequence task's masks).

A row of the sequence task (:class:`deeprecs.tasks.SequenceTask`) is ``(B, W)`` items of one user,
left-padded with ``-1``; each position predicts the next item against negatives. Two masks:

- *read* (``--mask-seen``): the items the row has shown up to the position;
- *history* (``--mask-history``): every item of the user's training history, earlier or later
  (what the evaluation leaves out of a user's candidates: a user's known items are no negatives).

*read* comes as pairs ``(positions, items)`` for the full softmax (sparse: about ``B W^2 / 2``,
never ``positions x n_items``); *history* as a ``(B, n_items)`` table of each row's user, the same
at every position of the row (the full softmax broadcasts it over the row's positions). For
sampled negatives both come as ``first (B, n_items)``: position ``t`` of row ``b`` leaves item ``i``
out iff ``first[b, i] <= t``. Positions are indexed as ``inputs[inputs >= 0]`` orders them (row-major).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def first_positions(inputs: torch.Tensor, n_items: int) -> torch.Tensor:
    """``(B, n_items)``: the first position of each item in each row of ``inputs (B, W)`` (padding
    ``-1``), ``W`` where the row lacks it: position ``t`` of row ``b`` has read item ``i`` iff
    ``first[b, i] <= t``."""
    rows, width = inputs.shape
    valid = inputs >= 0
    pos = torch.arange(width, device=inputs.device).expand(rows, width)
    first = torch.full((rows, n_items + 1), width, dtype=torch.long, device=inputs.device)  # column n_items: padding
    first.scatter_reduce_(1, torch.where(valid, inputs, n_items), torch.where(valid, pos, width), "amin")
    return first[:, :n_items]


def read_before(inputs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(positions, items)``: the pairs of a position (its index among ``inputs[mask]``) and an
    item it has read (``inputs`` up to it); ``inputs`` and ``mask`` (``inputs >= 0``) ``(B, W)``,
    left-padded. Sparse: about ``B W^2 / 2`` pairs, not ``B W n_items``."""
    width = inputs.shape[1]
    # [b, t, s]: s <= t and s an item (then t is one too: the padding is on the left)
    read = torch.ones(width, width, dtype=torch.bool, device=inputs.device).tril() & mask.unsqueeze(1)
    b, t, s = read.nonzero(as_tuple=True)
    index = mask.flatten().cumsum(0).view_as(mask) - 1  # each position's index among inputs[mask]
    return index[b, t], inputs[b, s]


@torch.no_grad()
def leave_out(scores: torch.Tensor, targets: torch.Tensor, dim: int, fill: Callable[[torch.Tensor], object]) -> None:
    """``fill(scores)`` (an in-place change setting left-out scores to ``-inf``), the targets'
    scores (``targets`` indexes ``scores`` along ``dim``) kept as they were. Exact without autograd:
    a left-out score's softmax weight, so its gradient, is 0."""
    own = scores.gather(dim, targets)
    fill(scores)
    scores.scatter_(dim, targets, own)


class UserItems:
    """Each user's training items as CSR arrays on the training device (``indptr (n_users + 1,)``,
    ``indices``), for the *history* mask."""

    def __init__(self, indptr: torch.Tensor, indices: torch.Tensor, n_items: int) -> None:
        self.indptr, self.indices, self.n_items = indptr, indices, n_items

    @classmethod
    def of(cls, train, device: torch.device | str = "cpu") -> "UserItems":  # noqa: ANN001 - Interactions
        csr = train.tocsr()
        return cls(torch.from_numpy(csr.indptr.astype("int64")).to(device), torch.from_numpy(csr.indices.astype("int64")).to(device),
                   train.n_items)

    def table(self, users: torch.Tensor) -> torch.Tensor:
        """``(B, n_items)`` bool: whether the user of each row has each item."""
        from deeprecs.models.layers import csr_gather  # here: deeprecs.models imports the tasks, which import this

        row, position, _ = csr_gather(self.indptr, users)
        table = torch.zeros(len(users), self.n_items, dtype=torch.bool, device=users.device)
        table[row, self.indices[position]] = True
        return table

    def first(self, users: torch.Tensor) -> torch.Tensor:
        """``(B, n_items)``: 0 where the row's user has the item (left out at every position), a
        position never reached elsewhere: :func:`first_positions`' form of :meth:`table`."""
        return torch.where(self.table(users), 0, torch.iinfo(torch.long).max)


__all__ = ["UserItems", "first_positions", "leave_out", "read_before"]
