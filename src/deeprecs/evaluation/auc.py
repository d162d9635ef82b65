"""Per-user ROC AUC over all non-train items (PROTOCOLS.md, "Positive-only AUC").

For each user: candidates = every item not among the user's train items; label 1 for the
user's test items (test items also in train are not candidates), 0 for the other
candidates. AUC by the Mann–Whitney formula on tie-averaged ranks, so ties count one half
and the value equals ``sklearn.metrics.roc_auc_score`` on the same candidates::

    AUC = (sum of positive ranks - P (P + 1) / 2) / (P * N)

Users with no test positive (P = 0) or no negative candidate (N = 0) are skipped (NaN).

Vectorised per batch: each row's scores are sorted once with train items moved to ``+inf``
(the end); two binary searches per positive then give the candidates scoring below it
(``left``) and up to it (``right``, capped at the candidate count so that train items never
count), and its tie-averaged rank is ``left + (right - left + 1) / 2``.

Shapes: ``B`` users in the batch, ``n_items`` items, ``P`` most test positives in a row.
"""

from __future__ import annotations

import torch

from deeprecs.evaluation.masks import RowsLike, padded_items, row_counts, rows_mask, sort_rows


def positive_ranks(
    scores: torch.Tensor, train_m: torch.Tensor, items: torch.Tensor
) -> torch.Tensor:
    """1-based tie-averaged ranks (float64 ``(B, P)``) of ``items`` ``(B, P)`` among candidates.

    Rank 1 is the lowest score; ``train_m`` ``(B, n_items)`` bool marks the non-candidates.
    Equal scores share the mean of their ranks. Assumes no NaN scores.
    """
    n_cand = (train_m.shape[1] - row_counts(train_m)).unsqueeze(1)
    ordered = sort_rows(scores.masked_fill(train_m, float("inf")))
    values = scores.gather(1, items).contiguous()
    below = torch.searchsorted(ordered, values, side="left")
    upto = torch.minimum(torch.searchsorted(ordered, values, side="right"), n_cand)
    return below.to(torch.float64) + (upto - below + 1).to(torch.float64) / 2.0


def auc_per_user(
    scores: torch.Tensor,
    train: RowsLike,
    test: RowsLike,
    users: torch.Tensor | None = None,
) -> torch.Tensor:
    """AUC of each user of the batch, float64 ``(B,)``; NaN for skipped users.

    ``scores`` ``(B, n_items)``, no NaN; ``train`` / ``test`` as in
    :func:`deeprecs.evaluation.ranking.ranking_metrics` (CSR rows or boolean masks).
    """
    device = scores.device
    train_m = rows_mask(train, users, device=device)
    items, valid = padded_items(rows_mask(test, users, device=device) & ~train_m)
    ranks = positive_ranks(scores, train_m, items)
    n_pos = valid.sum(1).to(torch.float64)
    n_neg = (train_m.shape[1] - row_counts(train_m)).to(torch.float64) - n_pos
    rank_sum = torch.where(valid, ranks, 0.0).sum(1)
    auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    ok = (n_pos > 0) & (n_neg > 0)
    return torch.where(ok, auc, torch.full_like(auc, float("nan")))


def auc(
    scores: torch.Tensor,
    train: RowsLike,
    test: RowsLike,
    users: torch.Tensor | None = None,
) -> tuple[float, torch.Tensor]:
    """``(mean AUC over evaluated users, per-user AUC (B,) with NaN for skipped users)``.

    The mean is NaN when no user of the batch can be evaluated.
    """
    per_user = auc_per_user(scores, train, test, users)
    evaluated = ~torch.isnan(per_user)
    mean = float(per_user[evaluated].mean()) if bool(evaluated.any()) else float("nan")
    return mean, per_user
