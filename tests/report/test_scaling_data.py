"""benchmarks/scaling.py: the synthetic data has the asked size and MovieLens-like skew."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def scaling(bench):
    return bench("scaling")


@pytest.mark.parametrize("n", [1_000, 20_000])
def test_sizes(scaling, n):
    data = scaling.synthetic(n, seed=0)
    n_users, n_items = scaling.shape(n)
    assert len(data) == n and data.ratings is not None
    assert (data.n_users, data.n_items) == (n_users, n_items)
    assert set(np.unique(data.ratings)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    pairs = data.users * data.n_items + data.items
    assert len(np.unique(pairs)) == n  # each (user, item) once, as in MovieLens


def test_catalogue_grows_slower_than_the_data(scaling):
    (u1, i1), (u2, i2) = scaling.shape(10**5), scaling.shape(10**7)
    assert u2 == 100 * u1 and 5 < i2 / i1 < 8  # ML-100K -> ML-10M: 1.7K -> 10.7K items


def test_popularity_and_activity_are_skewed(scaling):
    data = scaling.synthetic(50_000, seed=1)
    items, users = scaling.skew(data.item_counts()), scaling.skew(data.user_counts())
    assert 0.35 < items < 0.65  # ML-100K: the top 10% of items hold 43% of ratings
    assert 0.2 < users < 0.45  # ML-100K: the top 10% of users hold 32%
    uniform = scaling.skew(np.full(100, 7))
    assert uniform == pytest.approx(0.1)


def test_same_seed_same_data(scaling):
    a, b = scaling.synthetic(5_000, seed=3), scaling.synthetic(5_000, seed=3)
    assert np.array_equal(a.users, b.users) and np.array_equal(a.items, b.items)
    assert not np.array_equal(a.items, scaling.synthetic(5_000, seed=4).items)


def test_one_point_trains(scaling):
    row = scaling.point("mf", 2_000, 1, 0)
    assert row["interactions"] == 2_000 and row["epochs"] == 1 and row["examples_per_s"] > 0
