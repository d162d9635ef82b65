"""Leave-one-out ranks of a single test item (PROTOCOLS.md, the NCF protocol).

The rank (0-based) of the test item is the number of other candidates scoring **>=** it: a
tie counts against the model, so the rule is deterministic and constant scores earn nothing.
HR@K = 1 if rank < K; NDCG@K = 1 / log2(rank + 2) if rank < K, else 0.

- sampled: candidates = the test item + its listed negatives, used as given (a listed
  negative equal to the test item ties with it and so counts against the model);
- full: candidates = every item not in the user's train data, except the test item itself.

Shapes: ``B`` test rows in the batch, ``n_neg`` negatives per row, ``n_items`` items.
"""

from __future__ import annotations

from typing import Sequence

import torch

from deeprecs.evaluation.masks import RowsLike, row_counts, rows_mask


def sampled_rank(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """Rank int64 ``(B,)``: negatives ``(B, n_neg)`` scoring >= the positive ``(B,)``."""
    return (neg_scores >= pos_scores.unsqueeze(1)).sum(1)


def full_rank(
    scores: torch.Tensor,
    train: RowsLike,
    test_items: torch.Tensor,
    users: torch.Tensor | None = None,
) -> torch.Tensor:
    """Rank int64 ``(B,)`` of ``test_items`` ``(B,)`` against all the user's non-train items.

    ``scores`` ``(B, n_items)``; ``train`` the batch's train rows (CSR or boolean mask), or a
    matrix for all users with ``users`` ``(B,)``. The test item itself is never a candidate,
    even when it is in train (it is still ranked by its own score).
    """
    test_items = test_items.to(device=scores.device, dtype=torch.long).unsqueeze(1)
    candidates = ~rows_mask(train, users, device=scores.device)
    candidates.scatter_(1, test_items, False)
    pos = scores.gather(1, test_items)  # (B, 1)
    return row_counts((scores >= pos) & candidates)


def hit_ndcg(rank: torch.Tensor, ks: Sequence[int] = (10,)) -> dict[str, torch.Tensor]:
    """``hr@K`` and ``ndcg@K`` per row (float64 ``(B,)``) from 0-based ranks ``(B,)``."""
    r = rank.to(torch.float64)
    gain = 1.0 / torch.log2(r + 2.0)
    out: dict[str, torch.Tensor] = {}
    for k in ks:
        hit = rank < k
        out[f"hr@{k}"] = hit.to(torch.float64)
        out[f"ndcg@{k}"] = torch.where(hit, gain, torch.zeros_like(gain))
    return out
