"""The synthetic MovieLens-like log: the asked size and shape, int32 ids, each pair once, skew, seeds."""

import numpy as np
import pytest

from deeprecs.data.load import load_dataset
from deeprecs.data.synthetic import SyntheticSpec, generate, parse, skew
from deeprecs.errors import ConfigError


def test_parse_counts_and_options():
    assert parse("synthetic:32m") == SyntheticSpec(32_000_000)
    assert parse("synthetic:32m").shape() == (200_948, 87_585)  # ML-32M's
    assert parse("synthetic:1e6").shape() == (6_280, 3_871)  # ML-1M: 6,040 x 3,706
    spec = parse("synthetic:1.5k,users=100,items=80,seed=3,zipf=1.1,sigma=0.5,stars=whole")
    assert spec == SyntheticSpec(1500, 100, 80, 3, 1.1, 0.5, "whole")
    for bad in ("synthetic:lots", "synthetic:10,colour=red", "synthetic:10,seed=x", "synthetic:5000,users=10,items=10"):
        with pytest.raises(ConfigError):
            parse(bad)


@pytest.fixture(scope="module")
def data():
    return generate(SyntheticSpec(30_000, seed=1))


def test_size_ids_and_values(data):
    n_users, n_items = SyntheticSpec(30_000).shape()
    assert len(data) == 30_000 and data.shape == (n_users, n_items)
    assert data.users.dtype == np.int32 and data.items.dtype == np.int32
    keys = data.users.astype(np.int64) * data.n_items + data.items
    assert len(np.unique(keys)) == len(data)  # each (user, item) once
    assert set(np.unique(data.ratings)) <= set(np.arange(1, 11) / 2)
    assert data.timestamps.min() >= 820_454_400 and data.timestamps.max() <= 1_696_118_400


def test_popularity_and_activity_are_skewed(data):
    assert 0.35 < skew(data.item_counts()) < 0.75  # ML-100K: the top 10% of items hold 43%, ML-32M about 70%
    assert 0.2 < skew(data.user_counts()) < 0.5  # ML-100K: the top 10% of users hold 32%


def test_same_seed_same_data():
    a, b, c = (generate(SyntheticSpec(2_000, seed=s)) for s in (3, 3, 4))
    assert np.array_equal(a.users, b.users) and np.array_equal(a.items, b.items) and np.array_equal(a.timestamps, b.timestamps)
    assert not np.array_equal(a.items, c.items)


def test_load_dataset():
    ds = load_dataset("synthetic:5000,seed=2")
    assert len(ds.interactions) == 5000 and ds.name == "synthetic-5000" and ds.interactions.users.dtype == np.int32
