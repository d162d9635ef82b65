"""Leave-one-out ranks: the tie rule, HR/NDCG by hand and against the reference."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import eval_reference as ref
from deeprecs.evaluation.sampled import full_rank, hit_ndcg, sampled_rank


def test_sampled_rank_ties_count_against_the_model():
    pos = torch.tensor([0.5, 0.5, 1.0])
    neg = torch.tensor([[0.5, 0.2, 0.7], [0.1, 0.2, 0.3], [1.0, 1.0, 1.0]])
    rank = sampled_rank(pos, neg)
    assert rank.tolist() == [2, 0, 3]
    m = hit_ndcg(rank, ks=(1, 3))
    assert m["hr@1"].tolist() == [0.0, 1.0, 0.0]
    assert m["hr@3"].tolist() == [1.0, 1.0, 0.0]
    assert m["ndcg@3"].tolist() == pytest.approx([1 / math.log2(4), 1.0, 0.0])


def test_constant_scores_never_hit():
    rank = sampled_rank(torch.zeros(4), torch.zeros(4, 99))
    assert rank.tolist() == [99] * 4
    assert hit_ndcg(rank, ks=(10, 99, 100))["hr@99"].sum().item() == 0.0
    assert hit_ndcg(rank, ks=(100,))["hr@100"].sum().item() == 4.0


def test_full_rank_by_hand():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.5, 0.3], [0.1, 0.9, 0.5, 0.5, 0.3]])
    train = sp.csr_matrix(np.array([[0, 1, 0, 0, 0], [0, 0, 0, 0, 0]]))
    # row 0: item 2, candidates {0, 3, 4}: item 3 ties -> rank 1
    # row 1: item 4, candidates {0, 1, 2, 3}: items 1, 2, 3 higher -> rank 3
    assert full_rank(scores, train, torch.tensor([2, 4])).tolist() == [1, 3]


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(1, 20), st.integers(0, 2**31 - 1))
def test_against_reference(batch, n_neg, seed):
    rng = np.random.default_rng(seed)
    pos = rng.integers(0, 5, batch).astype(np.float32)
    neg = rng.integers(0, 5, (batch, n_neg)).astype(np.float32)
    rank = sampled_rank(torch.from_numpy(pos), torch.from_numpy(neg))
    metrics = hit_ndcg(rank, ks=(1, 5))
    for b in range(batch):
        r = ref.sampled_rank(float(pos[b]), neg[b].tolist())
        assert rank[b].item() == r
        for k in (1, 5):
            hr, ndcg = ref.hit_ndcg(r, k)
            assert metrics[f"hr@{k}"][b].item() == hr
            assert metrics[f"ndcg@{k}"][b].item() == pytest.approx(ndcg)


def test_full_rank_against_reference():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 6, (40, 30)).astype(np.float32)
    train = [set(rng.choice(30, rng.integers(0, 10), replace=False).tolist()) for _ in range(40)]
    items = rng.integers(0, 30, 40)  # sometimes in train: never a candidate, still ranked
    m = sp.lil_matrix((40, 30))
    for u, t in enumerate(train):
        for i in t:
            m[u, i] = 1
    got = full_rank(torch.from_numpy(scores), m.tocsr(), torch.from_numpy(items))
    for u in range(40):
        assert got[u].item() == ref.full_rank(scores[u].tolist(), train[u], int(items[u]))
