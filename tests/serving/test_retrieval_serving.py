"""Fold-in of new users, the HNSW index, clustering."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from planted import BLOCK_A, BLOCK_B
from deeprecs.batch import Batch
from deeprecs.models.base import FitData
from deeprecs.clustering import cluster_run
from deeprecs.retrieval.ann import HNSWIndex, exact_search
from deeprecs.retrieval.foldin import fold_in, liked_matrix, recommend_liked


def test_fold_in_recommends_items_of_the_liked_block(run):
    liked_a = [run.item_index(i) for i in BLOCK_A[:4]]
    liked_b = [run.item_index(i) for i in BLOCK_B[:4]]
    items, _ = recommend_liked(run.model, [liked_a, liked_b], k=10)
    got_a, got_b = run.item_map.raw[items[0]], run.item_map.raw[items[1]]
    assert np.isin(got_a, BLOCK_A[4:]).mean() >= 0.9
    assert np.isin(got_b, BLOCK_B[4:]).mean() >= 0.9
    assert not set(liked_a) & set(items[0].tolist())  # liked items are never recommended


@pytest.mark.parametrize("name", ["ease", "rp3beta"])
def test_item_item_models_fold_in_a_known_users_list_exactly(name):
    from deeprecs.data.interactions import Interactions
    from deeprecs.models import build_model

    rng = np.random.default_rng(0)
    x = rng.random((15, 9)) < 0.4
    x[np.arange(15), np.arange(15) % 9] = True
    users, items = np.nonzero(x)
    train = Interactions.from_raw(users, items)
    model = build_model(name, train.n_users, train.n_items)
    model.fit_data(FitData(train))
    lists = [np.flatnonzero(x[u]).tolist() for u in (0, 4)]
    got, scores = recommend_liked(model, lists, k=3)
    full = model.score_all(Batch(torch.tensor([0, 4])))
    full[torch.from_numpy(x[[0, 4]])] = -float("inf")  # liked items are never recommended
    want_scores, want = torch.topk(full, 3, dim=1)
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_allclose(scores, want_scores.numpy(), rtol=1e-5, atol=1e-6)


def test_fold_in_batch_equals_one_at_a_time_and_plain_ridge():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(30, 4, generator=g)
    liked = [[0, 1, 2], [5], [7, 8, 9, 10, 11]]
    batch = fold_in(v, liked_matrix(liked, 30), reg=0.5, alpha=3.0)
    for b, row in enumerate(liked):
        one = fold_in(v, liked_matrix([row], 30), reg=0.5, alpha=3.0)[0]
        torch.testing.assert_close(batch[b], one)
        # reference: weighted ridge written out with dense weights
        w = torch.ones(30, dtype=torch.float64); w[row] = 4.0
        p = torch.zeros(30, dtype=torch.float64); p[row] = 1.0
        vd = v.double()
        ref = torch.linalg.solve(vd.T @ (w[:, None] * vd) + 0.5 * torch.eye(4, dtype=torch.float64), vd.T @ (w * p))
        torch.testing.assert_close(one.double(), ref, rtol=1e-4, atol=1e-5)


def test_hnsw_recall_and_seen_filtering():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3000, 16)).astype(np.float32)
    q = rng.normal(size=(20, 16)).astype(np.float32)
    index = HNSWIndex(v, ef_search=64)
    exact, _ = exact_search(q, v, 10)
    approx, scores = index.search(q, 10)
    assert np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)]) >= 0.95
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    seen = sp.csr_matrix((np.ones(60), (np.repeat(np.arange(20), 3), exact[:, :3].ravel())), shape=(20, 3000))
    filtered, _ = index.search(q, 10, exclude=seen)
    assert not any(set(f) & set(e[:3]) for f, e in zip(filtered, exact))
    assert np.mean([len(set(f) & set(e[3:])) / 7 for f, e in zip(filtered, exact)]) >= 0.9


def test_hnsw_pads_when_too_few_items_remain():
    v = np.eye(4, dtype=np.float32)
    items, scores = HNSWIndex(v).search(v[:1], 4, exclude=sp.csr_matrix(np.array([[1, 1, 0, 0]])))
    assert sorted(items[0, :2].tolist()) == [2, 3] and items[0, 2:].tolist() == [-1, -1]
    assert np.isneginf(scores[0, 2:]).all()


def test_item_clusters_separate_the_planted_blocks(run):
    clusters = cluster_run(run, n_clusters=3, top=3)
    blocks = []
    for c in clusters:
        raw = set(run.item_map.raw[c.members].tolist())
        blocks.append("A" if raw <= set(BLOCK_A) else "B" if raw <= set(BLOCK_B) else "mixed")
    assert blocks.count("A") + blocks.count("B") >= 2
    users = cluster_run(run, n_clusters=2, users=True, top=3)
    assert sorted(len(c.members) for c in users) == [40, 40]
