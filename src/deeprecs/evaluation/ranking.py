"""Top-K metrics under full ranking, several test items per user (PROTOCOLS.md).

For one batch of users: candidates = every item not among the user's train items (their
scores are set to ``-inf``); the top-K list comes from ``torch.topk`` on the batch.

- precision@K = hits / K
- recall@K    = hits / min(K, |test|)
- map@K (AP)  = sum over hit positions i (1-based, i <= K) of precision@i, / min(K, |test|)
- ndcg@K      = DCG@K / IDCG@K, binary gains, discount 1 / log2(i + 1), IDCG over
  min(K, |test|) items
- hr@K        = 1 if any hit in the top K
- mrr         = 1 / rank of the first test item in the full ranking

Test items the user also has in train are not candidates, so they are dropped from the test
set (|test| counts the rest). Users left with no test item get NaN (callers skip them).

Ties: inside the top-K list, equal scores keep whatever order ``torch.topk`` returns (not
specified by torch; on CPU in practice deterministic for a given input). MRR is
tie-pessimistic like the sampled protocol: rank = 1 + the number of non-test candidates
scoring ``>=`` the best test item, so constant scores earn nothing.

Shapes: ``B`` users in the batch, ``n_items`` items, ``K`` a cut-off.
"""

from __future__ import annotations

from typing import Sequence

import torch

from deeprecs.evaluation.masks import RowsLike, padded_items, row_counts, rows_mask


def discounts(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``1 / log2(i + 1)`` for 1-based positions ``i = 1..n``; float64 ``(n,)``."""
    pos = torch.arange(1, n + 1, dtype=torch.float64, device=device)
    return 1.0 / torch.log2(pos + 1.0)


def ranking_metrics(
    scores: torch.Tensor,
    train: RowsLike,
    test: RowsLike,
    ks: Sequence[int] = (5, 10, 20),
    users: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Per-user metrics for one batch; each value float64 ``(B,)``, NaN where no test item.

    ``scores``: ``(B, n_items)`` float. ``train`` / ``test``: the batch's rows as scipy CSR
    (or boolean ``(B, n_items)``), or matrices for all users with ``users`` ``(B,)`` selecting
    the batch's rows. Keys ``precision@K``, ``recall@K``, ``map@K``, ``ndcg@K``, ``hr@K``
    for each K in ``ks``, ``mrr``, and ``n_test`` (int64 ``(B,)``, test items kept).
    """
    device = scores.device
    n_items = scores.shape[1]
    train_m = rows_mask(train, users, device=device)
    test_m = rows_mask(test, users, device=device) & ~train_m
    n_test = row_counts(test_m)
    has_test = n_test > 0
    nan = torch.tensor(float("nan"), dtype=torch.float64, device=device)

    masked = scores.masked_fill(train_m, float("-inf"))
    k_max = min(max(ks), n_items)
    top = torch.topk(masked, k_max, dim=1).indices  # (B, k_max)
    hits = test_m.gather(1, top).to(torch.float64)  # (B, k_max)
    cum_hits = hits.cumsum(1)
    pos = torch.arange(1, k_max + 1, dtype=torch.float64, device=device)
    disc = discounts(k_max, device)
    prec_at_i = hits * cum_hits / pos  # precision@i at hit positions, 0 elsewhere
    cum_prec = prec_at_i.cumsum(1)
    cum_dcg = (hits * disc).cumsum(1)
    cum_idcg = disc.cumsum(0)

    out: dict[str, torch.Tensor] = {}
    for k in ks:
        last = min(k, k_max) - 1  # K beyond n_items: the list simply ends
        n_hits = cum_hits[:, last]
        denom = torch.clamp(n_test, max=k).clamp(min=1).to(torch.float64)  # min(K, |test|)
        idcg = cum_idcg[denom.long() - 1]
        metrics = {
            f"precision@{k}": n_hits / k,
            f"recall@{k}": n_hits / denom,
            f"map@{k}": cum_prec[:, last] / denom,
            f"ndcg@{k}": cum_dcg[:, last] / idcg,
            f"hr@{k}": (n_hits > 0).to(torch.float64),
        }
        out.update({name: torch.where(has_test, v, nan) for name, v in metrics.items()})

    # MRR: non-test candidates scoring >= the best test item. Counted over all items, minus
    # the test items at the top, minus train items (-inf) where the best test score is -inf.
    items, valid = padded_items(test_m)  # (B, P)
    test_scores = masked.gather(1, items).masked_fill(~valid, float("-inf"))
    best = test_scores.amax(1, keepdim=True) if items.shape[1] else torch.full_like(masked[:, :1], float("-inf"))
    n_ge = row_counts(masked >= best)
    n_test_ge = ((test_scores >= best) & valid).sum(1)
    n_train_ge = torch.where(best.squeeze(1) == float("-inf"), row_counts(train_m), 0)
    rank = 1 + n_ge - n_test_ge - n_train_ge
    out["mrr"] = torch.where(has_test, 1.0 / rank.to(torch.float64), nan)
    out["n_test"] = n_test
    return out
