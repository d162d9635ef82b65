"""Full-ranking top-K metrics: hand-made rankings and the slow reference on random cases."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

import eval_reference as ref
from deeprecs.evaluation.ranking import ranking_metrics


def csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


# User 0: items ranked 0..7 by score; item 1 is in train (dropped); test = {2, 5, 7}.
# Candidate ranking: 0, 2*, 3, 4, 5*, 6, 7*  (hits at positions 2, 5 and 7).
# User 1: no test item -> NaN everywhere.
SCORES = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2], [0.1] * 8])
TRAIN = csr([[1], [0]], 8)
TEST = csr([[2, 5, 7], []], 8)
L3, L6, L8 = math.log2(3), math.log2(6), math.log2(8)
IDCG2, IDCG3 = 1 + 1 / L3, 1 + 1 / L3 + 1 / 2


def test_hand_made_ranking():
    m = ranking_metrics(SCORES, TRAIN, TEST, ks=(2, 5, 10))
    expected = {
        "precision@2": 1 / 2, "recall@2": 1 / 2, "map@2": (1 / 2) / 2,
        "ndcg@2": (1 / L3) / IDCG2, "hr@2": 1.0,
        "precision@5": 2 / 5, "recall@5": 2 / 3, "map@5": (1 / 2 + 2 / 5) / 3,
        "ndcg@5": (1 / L3 + 1 / L6) / IDCG3, "hr@5": 1.0,
        # K = 10 > 8 items: the list just ends; precision still divides by K
        "precision@10": 3 / 10, "recall@10": 1.0, "map@10": (1 / 2 + 2 / 5 + 3 / 7) / 3,
        "ndcg@10": (1 / L3 + 1 / L6 + 1 / L8) / IDCG3, "hr@10": 1.0,
        "mrr": 1 / 2,
    }
    for name, value in expected.items():
        assert m[name][0].item() == pytest.approx(value), name
        assert math.isnan(m[name][1].item()), name
    assert m["n_test"].tolist() == [3, 0]


def test_fewer_test_items_than_k_perfect_ranking_scores_one():
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    m = ranking_metrics(scores, csr([[]], 6), csr([[0, 1]], 6), ks=(5,))
    assert m["precision@5"].item() == pytest.approx(2 / 5)
    for name in ("recall@5", "map@5", "ndcg@5", "hr@5", "mrr"):
        assert m[name].item() == pytest.approx(1.0), name


def test_test_item_in_train_is_not_counted():
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    m = ranking_metrics(scores, csr([[0]], 4), csr([[0, 2]], 4), ks=(1,))
    assert m["n_test"].item() == 1  # item 0 is train, so only item 2 is a test item
    assert m["hr@1"].item() == 0.0 and m["mrr"].item() == pytest.approx(1 / 2)


def test_mrr_ties_count_against_the_model():
    # test item 2 ties with items 0 and 3; item 1 is higher -> rank 1 + 3 = 4
    scores = torch.tensor([[1.0, 2.0, 1.0, 1.0, 0.0]])
    m = ranking_metrics(scores, csr([[]], 5), csr([[2]], 5), ks=(1,))
    assert m["mrr"].item() == pytest.approx(1 / 4)


def test_batch_rows_or_all_users_with_index():
    users = torch.tensor([1, 0])
    a = ranking_metrics(SCORES.flip(0), TRAIN, TEST, ks=(5,), users=users)
    b = ranking_metrics(SCORES.flip(0), TRAIN[[1, 0]], TEST[[1, 0]], ks=(5,))
    for name in a:
        assert torch.equal(a[name].nan_to_num(-1), b[name].nan_to_num(-1))


@pytest.mark.parametrize("seed", range(8))
def test_against_reference_random(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items = 12, int(rng.integers(5, 40))
    scores = torch.stack([torch.randperm(n_items, generator=torch.Generator().manual_seed(seed * 100 + u))
                          for u in range(n_users)]).float()  # distinct scores: no topk ties
    train = [set(rng.choice(n_items, rng.integers(0, n_items // 2), replace=False).tolist()) for _ in range(n_users)]
    test = [set(rng.choice(n_items, rng.integers(0, 6), replace=False).tolist()) for _ in range(n_users)]
    ks = (1, 3, 5, 50)
    m = ranking_metrics(scores, csr([sorted(t) for t in train], n_items), csr([sorted(t) for t in test], n_items), ks)
    for u in range(n_users):
        expected = ref.ranking_user(scores[u].tolist(), train[u], test[u], ks)
        for name in m:
            if name == "n_test":
                continue
            got = m[name][u].item()
            if expected is None:
                assert math.isnan(got)
            else:
                assert got == pytest.approx(expected[name]), (u, name)


def test_mrr_against_reference_with_ties():
    rng = np.random.default_rng(7)
    scores = torch.from_numpy(rng.integers(0, 4, (30, 15)).astype(np.float32))
    train = [set(rng.choice(15, 3, replace=False).tolist()) for _ in range(30)]
    test = [set(rng.choice(15, 2, replace=False).tolist()) for _ in range(30)]
    m = ranking_metrics(scores, csr([sorted(t) for t in train], 15), csr([sorted(t) for t in test], 15), (5,))
    for u in range(30):
        expected = ref.ranking_user(scores[u].tolist(), train[u], test[u], (5,))
        if expected is not None:
            assert m["mrr"][u].item() == pytest.approx(expected["mrr"])


def test_mrr_when_the_test_item_scores_minus_infinity():
    # candidates {0, 1, 3}; test item 1 at -inf is beaten (or tied) by both others -> rank 3
    scores = torch.tensor([[0.0, float("-inf"), 1.0, 2.0]])
    m = ranking_metrics(scores, csr([[2]], 4), csr([[1]], 4), ks=(1,))
    assert m["mrr"].item() == pytest.approx(1 / 3)
