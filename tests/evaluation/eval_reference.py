"""Slow, obvious reference implementations of the evaluation metrics (pure Python loops).

Written straight from PROTOCOLS.md, one user at a time, to check the vectorised code.
"""

from __future__ import annotations

import math


def ranked_candidates(scores: list[float], train: set[int]) -> list[int]:
    """Candidate items (not in train) from best to worst score; equal scores by item index."""
    cands = [i for i in range(len(scores)) if i not in train]
    return sorted(cands, key=lambda i: (-scores[i], i))


def ranking_user(scores: list[float], train: set[int], test: set[int], ks) -> dict[str, float] | None:
    """Top-K metrics of one user; None when the user has no test item outside train."""
    test = test - train
    if not test:
        return None
    ranked = ranked_candidates(scores, train)
    out = {}
    for k in ks:
        top = ranked[:k]
        hits = [1 if item in test else 0 for item in top]
        denom = min(k, len(test))
        ap = 0.0
        for i in range(1, len(hits) + 1):
            if hits[i - 1]:
                ap += sum(hits[:i]) / i
        dcg = sum(h / math.log2(i + 1) for i, h in enumerate(hits, start=1))
        idcg = sum(1 / math.log2(i + 1) for i in range(1, denom + 1))
        out[f"precision@{k}"] = sum(hits) / k
        out[f"recall@{k}"] = sum(hits) / denom
        out[f"map@{k}"] = ap / denom
        out[f"ndcg@{k}"] = dcg / idcg
        out[f"hr@{k}"] = 1.0 if sum(hits) else 0.0
    best = max(scores[i] for i in test)
    beaten_by = [i for i in range(len(scores)) if i not in train and i not in test and scores[i] >= best]
    out["mrr"] = 1.0 / (1 + len(beaten_by))
    return out


def auc_user(scores: list[float], train: set[int], test: set[int]) -> float | None:
    """Pairwise AUC over candidates (ties one half); None when no positive or no negative."""
    cands = [i for i in range(len(scores)) if i not in train]
    pos = [scores[i] for i in cands if i in test]
    neg = [scores[i] for i in cands if i not in test]
    if not pos or not neg:
        return None
    total = 0.0
    for p in pos:
        for n in neg:
            total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(pos) * len(neg))


def sampled_rank(pos: float, negs: list[float]) -> int:
    return sum(1 for n in negs if n >= pos)


def full_rank(scores: list[float], train: set[int], item: int) -> int:
    return sum(1 for i, s in enumerate(scores) if i not in train and i != item and s >= scores[item])


def hit_ndcg(rank: int, k: int) -> tuple[float, float]:
    return (1.0, 1.0 / math.log2(rank + 2)) if rank < k else (0.0, 0.0)


def round_to_values(p: float, values: list[float]) -> float:
    """Nearest valid value; half-way goes to the higher one."""
    best = None
    for v in sorted(values):
        if best is None or abs(p - v) <= abs(p - best):
            best = v
    return best
