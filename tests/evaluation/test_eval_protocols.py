"""Protocol drivers: batching, skipping, quirks, and sanity scorers (random, constant)."""

import math

import numpy as np
import pytest
import torch

import eval_reference as ref
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.errors import DataError
from deeprecs.evaluation import evaluate_ranking, evaluate_ratings, evaluate_sampled


def parts(n_users, n_items, train_pairs, test_pairs, train_ratings=None, test_ratings=None):
    um, im = IdMap(np.arange(n_users), kind="user"), IdMap(np.arange(n_items), kind="item")
    def make(pairs, ratings):
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        return Interactions(pairs[:, 0], pairs[:, 1], um, im, ratings)
    return make(train_pairs, train_ratings), make(test_pairs, test_ratings)


def random_split(seed, n_users, n_items, density=0.1):
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < density
    u, i = np.nonzero(dense)
    in_test = rng.random(len(u)) < 0.25
    return parts(n_users, n_items, np.c_[u[~in_test], i[~in_test]], np.c_[u[in_test], i[in_test]])


def table_scorer(table: torch.Tensor):
    return lambda users: table[users]


def test_ranking_matches_reference_and_is_batch_independent():
    train, test = random_split(0, 40, 30, density=0.15)
    scores = torch.rand(40, 30, generator=torch.Generator().manual_seed(0))
    ks = (1, 5, 10)
    results = [evaluate_ranking(table_scorer(scores), train, test, ks=ks, batch_size=b) for b in (1, 7, 1024)]
    for r in results[1:]:
        assert r == pytest.approx(results[0])
    got = results[0]

    tr, te = train.tocsr(), test.tocsr()
    per_user, aucs = [], []
    for u in range(40):
        tr_u, te_u = set(tr[u].indices.tolist()), set(te[u].indices.tolist())
        m = ref.ranking_user(scores[u].tolist(), tr_u, te_u, ks)
        if m is not None:
            per_user.append(m)
            aucs.append(ref.auc_user(scores[u].tolist(), tr_u, te_u))
    assert got["n_users_evaluated"] == len(per_user) < 40  # users without a test item skipped
    for name in per_user[0]:
        assert got[name] == pytest.approx(np.mean([m[name] for m in per_user])), name
    assert got["auc"] == pytest.approx(np.mean(aucs))
    assert list(got)[:2] == ["auc", "precision@1"]


def test_ranking_skips_users_without_test_items():
    train, test = parts(3, 4, [[0, 0], [1, 1], [2, 2]], [[0, 3]])
    out = evaluate_ranking(lambda u: torch.zeros(len(u), 4), train, test, ks=(2,))
    assert out["n_users_evaluated"] == 1 and out["n_users_auc"] == 1
    assert out["auc"] == 0.5  # constant scores: every pair ties
    # a user whose only test item is also in train has nothing left to find
    train, test = parts(2, 4, [[0, 0], [1, 1]], [[0, 0], [1, 3]])
    assert evaluate_ranking(lambda u: torch.zeros(len(u), 4), train, test)["n_users_evaluated"] == 1


def test_positive_only_auc_keeps_low_rated_train_items_as_negatives():
    # train: user 0 rated item 0 with 5 (positive) and item 1 with 2 (stays a candidate)
    train, test = parts(1, 4, [[0, 0], [0, 1]], [[0, 2]], train_ratings=[5.0, 2.0], test_ratings=[4.0])
    scores = torch.tensor([[9.0, 3.0, 2.0, 1.0]])  # item 1 beats the test item, item 3 does not
    out = evaluate_ranking(table_scorer(scores), train.positives(4), test.positives(4), ks=(1,))
    assert out["auc"] == pytest.approx(1 / 2)
    assert evaluate_ranking(table_scorer(scores), train, test, ks=(1,))["auc"] == 1.0


def test_random_scorer_auc_is_one_half():
    train, test = random_split(1, 943, 1682, density=0.06)
    g = torch.Generator().manual_seed(1)
    out = evaluate_ranking(lambda u: torch.rand(len(u), 1682, generator=g), train, test, batch_size=256)
    assert out["auc"] == pytest.approx(0.5, abs=0.01)
    assert out["n_users_evaluated"] > 900


def test_refuses_nan_scores_and_wrong_shapes():
    train, test = parts(2, 3, [[0, 0]], [[0, 1], [1, 2]])
    with pytest.raises(DataError, match="NaN"):
        evaluate_ranking(lambda u: torch.full((len(u), 3), float("nan")), train, test)
    with pytest.raises(DataError, match="shape"):
        evaluate_ranking(lambda u: torch.zeros(len(u), 4), train, test)


# ------------------------------------------------------------------ sampled (NCF)
def ncf_case():
    """4 users x 10 items; one test item per user and 3 negatives per test row.

    Row 1 lists its own test item as a negative; row 2 lists an item the user has in train.
    """
    train, test = parts(4, 10, [[0, 0], [1, 1], [2, 2], [3, 3], [3, 4]], [[0, 5], [1, 6], [2, 7], [3, 8]])
    negatives = np.array([[1, 2, 3], [6, 0, 2], [2, 0, 1], [0, 1, 2]], dtype=np.int64)
    return train, test, negatives


def test_sampled_quirks_are_counted_and_the_file_is_used_as_given():
    train, test, negatives = ncf_case()
    item_score = torch.arange(10, dtype=torch.float32)  # higher index = higher score
    scorer = lambda users: item_score.expand(len(users), 10)  # noqa: E731
    out = evaluate_sampled(scorer, train, test, negatives, ks=(1, 3))
    assert out["quirk_negative_is_test_item"] == 1
    assert out["quirk_negative_in_train"] == 1
    assert out["quirk_test_item_in_train"] == 0
    assert out["quirk_test_item_unseen_in_train"] == 4
    assert out["n_users_evaluated"] == 4 and out["n_test_rows"] == 4
    # sampled ranks: 0, 1 (its own duplicate ties), 0, 0
    assert out["hr@1"] == pytest.approx(3 / 4)
    assert out["ndcg@3"] == pytest.approx((3 + 1 / math.log2(3)) / 4)
    # full ranks (candidates above the test item, train excluded): 4, 3, 2, 1
    assert out["full_hr@3"] == pytest.approx(2 / 4)
    assert out["full_ndcg@3"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(3)) / 4)


def test_constant_scorer_gets_nothing_under_the_sampled_protocol():
    train, test, negatives = ncf_case()
    out = evaluate_sampled(lambda u: torch.ones(len(u), 10), train, test, negatives, ks=(1, 3))
    for key in ("hr@1", "hr@3", "ndcg@3", "full_hr@3", "full_ndcg@3"):
        assert out[key] == 0.0, key


def test_sampled_refuses_misaligned_negatives():
    train, test, negatives = ncf_case()
    with pytest.raises(DataError):
        evaluate_sampled(lambda u: torch.ones(len(u), 10), train, test, negatives[:3])


# ------------------------------------------------------------------ ratings
def test_ratings_batched_equal_direct():
    rng = np.random.default_rng(0)
    pairs = np.c_[np.repeat(np.arange(50), 4), rng.integers(0, 20, 200)]
    truth = rng.integers(1, 6, 200).astype(np.float32)
    _, test = parts(50, 20, [[0, 0]], pairs, test_ratings=truth)
    table = torch.from_numpy(rng.uniform(0.5, 5.5, (50, 20)).astype(np.float32))
    predict = lambda u, i: table[u, i]  # noqa: E731
    pred = table[pairs[:, 0], pairs[:, 1]].numpy().astype(np.float64)
    for batch in (1, 33, 1024):
        out = evaluate_ratings(predict, test, values=[1, 2, 3, 4, 5], batch_size=batch)
        assert out["rmse"] == pytest.approx(np.sqrt(np.mean((pred - truth) ** 2)))
        assert out["mae"] == pytest.approx(np.mean(np.abs(pred - truth)))
        rounded = [ref.round_to_values(p, [1, 2, 3, 4, 5]) for p in pred]
        assert out["mae_rounded"] == pytest.approx(np.mean(np.abs(np.array(rounded) - truth)))
    assert set(evaluate_ratings(predict, test)) == {"rmse", "mae"}


def test_ratings_need_explicit_test_data():
    _, test = parts(1, 2, [[0, 0]], [[0, 1]])
    with pytest.raises(DataError):
        evaluate_ratings(lambda u, i: torch.zeros(len(u)), test)
