"""Per-user AUC against sklearn's roc_auc_score and the pairwise reference, ties included."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.metrics import roc_auc_score

import eval_reference as ref
from deeprecs.evaluation.auc import auc, auc_per_user, positive_ranks


def csr(rows, n_items):
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


def sklearn_auc(scores: np.ndarray, train: set, test: set) -> float | None:
    cands = [i for i in range(len(scores)) if i not in train]
    labels = [1 if i in test else 0 for i in cands]
    if 0 < sum(labels) < len(labels):
        return roc_auc_score(labels, scores[cands])
    return None


def test_hand_made():
    # user 0: item 1 in train; positives {2, 5, 7}, negatives {0, 3, 4, 6}
    # pairs won: item 2 beats 3, 4, 6; item 5 beats 6; item 7 none -> 4 / 12
    # user 1: scores 1, 1, 0 ; positive item 0 ties negative 1, beats negative 2 -> 1.5 / 2
    # user 2: no test item -> skipped ; user 3: every non-train item is positive -> skipped
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2],
                           [1.0, 1.0, 0.0, 9.0, 9.0, 9.0, 9.0, 9.0],
                           [0.0] * 8,
                           [0.0] * 8])
    train = csr([[1], [3, 4, 5, 6, 7], [], [0, 1, 2, 3, 4, 5]], 8)
    test = csr([[2, 5, 7], [0], [], [6, 7]], 8)
    mean, per_user = auc(scores, train, test)
    assert per_user[0].item() == pytest.approx(4 / 12)
    assert per_user[1].item() == pytest.approx(1.5 / 2)
    assert math.isnan(per_user[2].item()) and math.isnan(per_user[3].item())
    assert mean == pytest.approx((4 / 12 + 1.5 / 2) / 2)


def test_positive_ranks_by_hand():
    # candidates' scores 1, 2, 2, 2, 5, 5 (ranks 1, 3, 3, 3, 5.5, 5.5); item 6 (score 2) is train
    scores = torch.tensor([[1.0, 2.0, 2.0, 2.0, 5.0, 5.0, 2.0]])
    train = torch.tensor([[False] * 6 + [True]])
    ranks = positive_ranks(scores, train, torch.tensor([[0, 1, 3, 5]]))
    assert ranks.tolist() == [[1.0, 3.0, 3.0, 5.5]]


def test_infinite_candidate_scores_tie_with_each_other_not_with_train_items():
    scores = torch.tensor([[float("inf"), float("inf"), 0.0, 1.0]])
    train = torch.tensor([[False, False, False, True]])
    assert positive_ranks(scores, train, torch.tensor([[0]])).tolist() == [[2.5]]


@pytest.mark.parametrize("seed", range(6))
def test_against_sklearn_with_integer_ties(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 25, int(rng.integers(3, 30))
    scores = rng.integers(0, 4, (n_users, n_items)).astype(np.float32)  # many ties
    scores[0, :] = 1.0  # a constant row: AUC exactly 0.5
    train = [set(rng.choice(n_items, rng.integers(0, n_items), replace=False).tolist()) for _ in range(n_users)]
    test = [set(rng.choice(n_items, rng.integers(0, 5), replace=False).tolist()) - train[u] for u in range(n_users)]
    _, per_user = auc(torch.from_numpy(scores), csr([sorted(t) for t in train], n_items),
                      csr([sorted(t) for t in test], n_items))
    for u in range(n_users):
        expected = sklearn_auc(scores[u], train[u], test[u])
        pairwise = ref.auc_user(scores[u].tolist(), train[u], test[u])
        if expected is None:
            assert pairwise is None and math.isnan(per_user[u].item())
        else:
            assert pairwise == pytest.approx(expected, abs=1e-12)
            assert per_user[u].item() == pytest.approx(expected, abs=1e-12), u


def test_against_sklearn_continuous_and_infinite_scores():
    rng = np.random.default_rng(11)
    scores = rng.normal(size=(20, 40)).astype(np.float32)
    scores[:, :3] = -np.inf  # e.g. a scorer that already masks some items
    scores[:, 3] = np.inf
    train = [set(rng.choice(40, 5, replace=False).tolist()) for _ in range(20)]
    test = [set(rng.choice(40, 4, replace=False).tolist()) for _ in range(20)]
    per_user = auc_per_user(torch.from_numpy(scores), csr([sorted(t) for t in train], 40),
                            csr([sorted(t) for t in test], 40))
    for u in range(20):
        expected = ref.auc_user(scores[u].tolist(), train[u], test[u])
        assert per_user[u].item() == pytest.approx(expected, abs=1e-12)
