"""Protocol drivers: score users batch by batch, return flat dicts of mean metrics.

The drivers see a **scoring function**, never a model, and the split parts
(:class:`~deeprecs.data.interactions.Interactions` sharing one vocabulary):

- ``score_fn(users)``: ``users`` int64 ``(B,)`` -> float ``(B, n_items)`` scores;
- ``predict_fn(users, items)``: int64 ``(B,)``, ``(B,)`` -> float ``(B,)`` predicted ratings.

Functions are called under ``torch.no_grad()``. NaN scores are refused (a NaN compares false
with everything and would rank as a hit). Definitions: PROTOCOLS.md and the metric modules.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

from deeprecs.data.interactions import Interactions
from deeprecs.errors import DataError
from deeprecs.evaluation.auc import auc_per_user
from deeprecs.evaluation.masks import rows_mask
from deeprecs.evaluation.ranking import ranking_metrics
from deeprecs.evaluation.ratings import rating_metrics
from deeprecs.evaluation.sampled import full_rank, hit_ndcg, sampled_rank

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
PredictFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_parts(train: Interactions, test: Interactions) -> None:
    if train.shape != test.shape:
        raise DataError(f"train and test vocabularies differ ({train.shape} vs {test.shape})")


def _score(score_fn: ScoreFn, users: np.ndarray, n_items: int) -> torch.Tensor:
    with torch.no_grad():
        scores = score_fn(torch.from_numpy(users))
    if not isinstance(scores, torch.Tensor) or scores.shape != (len(users), n_items):
        shape = tuple(scores.shape) if hasattr(scores, "shape") else type(scores).__name__
        raise DataError(f"score_fn must return a tensor of shape ({len(users)}, {n_items}), got {shape}")
    if not scores.is_floating_point():
        scores = scores.float()
    if bool(torch.isnan(scores).any()):
        raise DataError(f"score_fn returned {int(torch.isnan(scores).sum())} NaN score(s)")
    return scores


def _cutoffs(ks: Sequence[int]) -> list[int]:
    out = sorted(set(int(k) for k in ks))
    if not out or out[0] < 1:
        raise DataError(f"cut-offs must be >= 1, got {list(ks)}")
    return out


def _batches(n: int, batch_size: int):
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def evaluate_ranking(
    score_fn: ScoreFn,
    train: Interactions,
    test: Interactions,
    ks: Sequence[int] = (5, 10, 20),
    batch_size: int = 1024,
    candidates: np.ndarray | None = None,
) -> dict[str, float]:
    """Full-ranking top-K metrics and AUC, averaged over users with >= 1 test item.

    Candidates = items not in the user's ``train`` rows (all of them: pass
    ``train.positives(4)`` / ``test.positives(4)`` for the positive-only AUC protocol), and
    among ``candidates`` (bool ``(n_items,)``) where given: e.g. the cold items only.
    Keys: ``auc``, ``precision@K``, ``recall@K``, ``map@K``, ``ndcg@K``, ``hr@K`` for each K,
    ``mrr``, ``n_users_evaluated`` (users with a test item not in their train rows) and
    ``n_users_auc`` (those that also have at least one negative candidate).
    """
    _check_parts(train, test)
    ks = _cutoffs(ks)
    train_csr, test_csr = train.tocsr(), test.tocsr()
    if candidates is not None:  # a test item outside the candidates is neither a positive nor a candidate
        test_csr = (test_csr @ sp.diags(candidates.astype(np.float32))).tocsr()
        test_csr.eliminate_zeros()
    n_test = np.diff(test_csr.indptr) - np.diff(test_csr.multiply(train_csr).tocsr().indptr)
    outside = None if candidates is None else torch.from_numpy(~candidates)
    users = np.flatnonzero(n_test > 0).astype(np.int64)

    names = [f"{m}@{k}" for m in ("precision", "recall", "map", "ndcg", "hr") for k in ks] + ["mrr"]
    sums = dict.fromkeys(names, 0.0)
    auc_sum, n_auc = 0.0, 0
    for sl in _batches(len(users), batch_size):
        batch = users[sl]
        scores = _score(score_fn, batch, train.n_items)
        train_m = rows_mask(train_csr, batch, device=scores.device)
        if outside is not None:
            train_m |= outside.to(scores.device)
        test_m = rows_mask(test_csr, batch, device=scores.device)
        per_user = ranking_metrics(scores, train_m, test_m, ks)
        for name in names:
            sums[name] += float(per_user[name].sum())
        aucs = auc_per_user(scores, train_m, test_m)
        ok = ~torch.isnan(aucs)
        auc_sum += float(aucs[ok].sum())
        n_auc += int(ok.sum())

    n = len(users)
    out = {"auc": auc_sum / n_auc if n_auc else float("nan")}
    out.update({name: (s / n if n else float("nan")) for name, s in sums.items()})
    out.update(n_users_evaluated=n, n_users_auc=n_auc)
    return out


def evaluate_sampled(
    score_fn: ScoreFn,
    train: Interactions,
    test: Interactions,
    test_negatives: np.ndarray,
    ks: Sequence[int] = (10,),
    batch_size: int = 1024,
) -> dict[str, float]:
    """Leave-one-out HR/NDCG: sampled (test item + its negatives) and full ranking beside it.

    ``test_negatives``: int64 ``(len(test), n_neg)``, row r lists the negatives of test row r.
    The list is evaluated **as given**: a negative equal to the test item ties with it and
    counts against the model; negatives the user has in train stay candidates. Means are over
    test rows (one per user under leave-one-out). Keys: ``hr@K``, ``ndcg@K``, ``full_hr@K``,
    ``full_ndcg@K``, ``n_users_evaluated`` (distinct users), ``n_test_rows`` and the quirk
    counts (test rows affected): ``quirk_negative_is_test_item``, ``quirk_negative_in_train``,
    ``quirk_test_item_in_train``, ``quirk_test_item_unseen_in_train``.
    """
    _check_parts(train, test)
    negatives = np.asarray(test_negatives)
    if negatives.ndim != 2 or negatives.shape[0] != len(test) or negatives.dtype.kind not in "iu":
        raise DataError(f"test_negatives must be an integer array of shape ({len(test)}, n_neg), got {negatives.shape}")
    if negatives.size and (negatives.min() < 0 or negatives.max() >= test.n_items):
        raise DataError("test_negatives holds item indices out of range")
    ks = _cutoffs(ks)
    train_csr = train.tocsr()

    names = [f"{p}{m}@{k}" for p in ("", "full_") for m in ("hr", "ndcg") for k in ks]
    sums = dict.fromkeys(names, 0.0)
    quirks = dict.fromkeys(["negative_is_test_item", "negative_in_train", "test_item_in_train"], 0)
    for sl in _batches(len(test), batch_size):
        users, items = test.users[sl], test.items[sl]
        scores = _score(score_fn, users, train.n_items)
        item_t = torch.from_numpy(items).to(scores.device)
        neg_t = torch.from_numpy(negatives[sl].astype(np.int64)).to(scores.device)
        train_m = rows_mask(train_csr, users, device=scores.device)

        pos = scores.gather(1, item_t.unsqueeze(1)).squeeze(1)
        sampled = hit_ndcg(sampled_rank(pos, scores.gather(1, neg_t)), ks)
        full = hit_ndcg(full_rank(scores, train_m, item_t), ks)
        for name, values in [*sampled.items(), *((f"full_{n}", v) for n, v in full.items())]:
            sums[name] += float(values.sum())

        quirks["negative_is_test_item"] += int((neg_t == item_t.unsqueeze(1)).any(1).sum())
        quirks["negative_in_train"] += int(train_m.gather(1, neg_t).any(1).sum())
        quirks["test_item_in_train"] += int(train_m.gather(1, item_t.unsqueeze(1)).sum())

    n = len(test)
    out: dict[str, float] = {name: (s / n if n else float("nan")) for name, s in sums.items()}
    out.update(n_users_evaluated=len(np.unique(test.users)), n_test_rows=n)
    out.update({f"quirk_{q}": c for q, c in quirks.items()})
    out["quirk_test_item_unseen_in_train"] = int((train.item_counts()[test.items] == 0).sum())
    return out


def evaluate_ratings(
    predict_fn: PredictFn,
    test: Interactions,
    values: Sequence[float] | np.ndarray | None = None,
    batch_size: int = 1024,
) -> dict[str, float]:
    """``rmse``, ``mae`` (and ``mae_rounded`` given the valid rating ``values``) over ``test``.

    ``predict_fn`` is called on batches of ``batch_size`` test rows.
    """
    if test.ratings is None:
        raise DataError("evaluate_ratings needs test ratings (the test part is implicit)")
    preds = []
    for sl in _batches(len(test), batch_size):
        with torch.no_grad():
            p = predict_fn(torch.from_numpy(test.users[sl]), torch.from_numpy(test.items[sl]))
        p = torch.as_tensor(p).detach().reshape(-1)
        if p.numel() != sl.stop - sl.start:
            raise DataError(f"predict_fn must return ({sl.stop - sl.start},) predictions, got {tuple(p.shape)}")
        preds.append(p.to(device="cpu", dtype=torch.float64))
    pred = torch.cat(preds) if preds else torch.zeros(0, dtype=torch.float64)
    return rating_metrics(pred, test.ratings, values)
