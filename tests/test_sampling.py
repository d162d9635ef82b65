"""Negative samplers: never a train positive (unless ``uniform``), shapes, popularity weighting; the
exact complement draw (accelerators) against the rejection one (the CPU's)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprecs.data import IdMap, Interactions
from deeprecs.errors import ConfigError
from deeprecs.sampling import NegativeSampler


def interactions(pairs: list[tuple[int, int]], n_users: int, n_items: int) -> Interactions:
    users, items = (np.array(x, dtype=np.int64) for x in zip(*pairs)) if pairs else (np.zeros(0), np.zeros(0))
    return Interactions(users, items, IdMap(np.arange(n_users)), IdMap(np.arange(n_items)))


@st.composite
def train_data(draw):
    """Random positives, including users with all but one (or a few) items positive."""
    n_users, n_items = draw(st.integers(1, 6)), draw(st.integers(2, 12))
    pairs = []
    for u in range(n_users):
        n_free = draw(st.integers(1, n_items))  # items that stay negatives (at least one)
        free = set(draw(st.permutations(range(n_items)))[:n_free])
        pairs += [(u, i) for i in range(n_items) if i not in free]
    if not pairs:
        pairs = [(0, 0)] if n_items > 1 else pairs
    return interactions(pairs, n_users, n_items)


@settings(max_examples=60, deadline=None)
@given(train=train_data(), kind=st.sampled_from(["uniform-excl", "popularity", "hard"]), n=st.integers(1, 20), seed=st.integers(0, 1000),
       exact=st.booleans())
def test_never_returns_a_train_positive(train, kind, n, seed, exact):
    sampler = NegativeSampler.of(train, kind, exact=exact)
    users = torch.arange(train.n_users).repeat(3)
    neg = sampler.sample(users, n, torch.Generator().manual_seed(seed))
    assert neg.shape == (len(users), n) and neg.dtype == torch.long
    assert ((neg >= 0) & (neg < train.n_items)).all()
    positives = set(zip(train.users.tolist(), train.items.tolist()))
    for u, row in zip(users.tolist(), neg.tolist()):
        assert not positives & {(u, i) for i in row}


@pytest.mark.parametrize("exact", [False, True])
def test_a_user_with_one_free_item_always_gets_it(exact):
    train = interactions([(0, i) for i in range(199)], 1, 200)  # only item 199 is free
    for kind in ("uniform-excl", "popularity", "hard"):
        neg = NegativeSampler.of(train, kind, exact=exact).sample(torch.zeros(4, dtype=torch.long), 5, torch.Generator().manual_seed(0))
        assert (neg == 199).all(), kind


def test_uniform_may_return_positives():
    train = interactions([(0, i) for i in range(9)], 1, 10)
    neg = NegativeSampler.of(train, "uniform").sample(torch.zeros(50, dtype=torch.long), 4, torch.Generator().manual_seed(0))
    assert neg.shape == (50, 4) and (neg < 9).any()


def test_popularity_frequencies_follow_count_to_the_alpha():
    # items 0..3 seen 1, 4, 9, 16 times by users 1..16; user 0 is the one sampled, with no positives
    # except item 4 (a never-sampled-otherwise item), so excluding it changes nothing else.
    counts = [1, 4, 9, 16]
    pairs = [(1 + k, item) for item, c in enumerate(counts) for k in range(c)] + [(0, 4)]
    train = interactions(pairs, 17, 5)
    sampler = NegativeSampler.of(train, "popularity", alpha=0.5)
    neg = sampler.sample(torch.zeros(20000, dtype=torch.long), 1, torch.Generator().manual_seed(0))
    freq = np.bincount(neg.flatten().numpy(), minlength=5) / neg.numel()
    expected = np.array([1, 2, 3, 4, 0]) / 10  # sqrt(count), item 4 excluded for user 0
    np.testing.assert_allclose(freq, expected, atol=0.015)


def test_user_with_every_item_is_a_config_error():
    train = interactions([(0, 0), (0, 1), (0, 2), (1, 0)], 2, 3)
    with pytest.raises(ConfigError, match="every item"):
        NegativeSampler.of(train, "uniform-excl")
    NegativeSampler.of(train, "uniform")  # no exclusion: nothing to refuse


def test_unknown_sampler():
    with pytest.raises(ConfigError, match="unknown sampler"):
        NegativeSampler.of(interactions([(0, 0)], 1, 2), "nope")


@pytest.mark.parametrize("exact", [False, True])
def test_seeded_draws_repeat(exact):
    train = interactions([(0, 1), (1, 2)], 2, 30)
    s = NegativeSampler.of(train, exact=exact)
    a = s.sample(torch.tensor([0, 1]), 8, torch.Generator().manual_seed(5))
    b = s.sample(torch.tensor([0, 1]), 8, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_the_exact_draw_is_uniform_over_each_users_non_positives():
    """User 0 has items 0, 3, 4, 8 as positives among 10: the other six each come up 1/6 of the
    time; user 1 has none: each of the ten 1/10."""
    train = interactions([(0, 0), (0, 3), (0, 4), (0, 8)], 2, 10)
    neg = NegativeSampler.of(train, exact=True).sample(torch.tensor([0, 1]).repeat(30000), 2, torch.Generator().manual_seed(1))
    for user, allowed in ((0, [1, 2, 5, 6, 7, 9]), (1, list(range(10)))):
        freq = np.bincount(neg[user::2].flatten().numpy(), minlength=10) / neg[user::2].numel()
        expected = np.isin(np.arange(10), allowed) / len(allowed)
        np.testing.assert_allclose(freq, expected, atol=0.01)


def test_the_cpu_draws_by_rejection_and_an_accelerator_exactly():
    train = interactions([(0, 1)], 1, 5)
    assert not NegativeSampler.of(train).exact and NegativeSampler.of(train, device="meta").exact
