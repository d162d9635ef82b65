"""make_split: exact small cases plus hypothesis properties (disjoint, complete, seeded)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprecs.data import make_split
from deeprecs.data.interactions import Interactions
from deeprecs.data.movielens import load_movielens
from deeprecs.errors import ConfigError, DataError


def _rows(inter):
    if inter is None:
        return []
    return list(zip(inter.users.tolist(), inter.items.tolist(),
                    (inter.ratings if inter.ratings is not None else np.zeros(len(inter))).tolist(),
                    (inter.timestamps if inter.timestamps is not None else np.zeros(len(inter))).tolist()))


def _check_partition(inter, split):
    parts = _rows(split.train) + _rows(split.test) + _rows(split.valid)
    assert Counter(parts) == Counter(_rows(inter))
    for part in (split.train, split.test, split.valid):
        if part is not None:
            assert part.user_map is inter.user_map and part.item_map is inter.item_map


interactions = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 150), st.integers(1, 5), st.integers(0, 30)),
    min_size=1, max_size=120, unique_by=lambda r: (r[0], r[1]),
).map(lambda rows: Interactions.from_raw(*map(list, zip(*rows))))


@settings(max_examples=60, deadline=None)
@given(inter=interactions, seed=st.integers(0, 5), spec=st.sampled_from(["random:0.2", "random:0.5", "holdout:1", "holdout:3", "temporal:0.3", "loo"]))
def test_splits_are_disjoint_complete_and_seeded(inter, seed, spec):
    c = inter.user_counts()
    if spec == "loo" and ((c >= 2) & (inter.n_items - c < 3)).any():  # too few unseen items
        with pytest.raises(ConfigError, match="cannot sample 3 negatives"):
            make_split(inter, spec, seed=seed, n_negatives=3)
        return
    split = make_split(inter, spec, seed=seed, n_negatives=3)
    _check_partition(inter, split)
    again = make_split(inter, spec, seed=seed, n_negatives=3)
    assert _rows(again.test) == _rows(split.test) and _rows(again.train) == _rows(split.train)
    # rows of each part keep their original relative order
    for part in (split.train, split.test):
        idx = [_rows(inter).index(r) for r in _rows(part)]
        assert idx == sorted(idx)
    counts = inter.user_counts()
    if spec.startswith("holdout"):
        k = int(spec.split(":")[1])
        test_counts = split.test.user_counts()
        assert np.array_equal(test_counts, np.where(counts > k, k, 0))
    if spec.startswith("random"):
        assert len(split.test) == round(float(spec.split(":")[1]) * len(inter))
    if spec == "loo":
        assert np.array_equal(split.test.user_counts(), (counts >= 2).astype(int))
        assert np.array_equal(split.valid.user_counts(), (counts >= 3).astype(int))
        ts, items = inter.timestamps, inter.items
        for u, i, t in zip(split.test.users, split.test.items, split.test.timestamps):
            mine = inter.users == u
            best = max(zip(ts[mine].tolist(), items[mine].tolist()))
            assert (t, i) == best  # latest, ties to the larger item index
        seen = set(zip(inter.users.tolist(), inter.items.tolist()))
        for users, negs in ((split.test.users, split.test_negatives), (split.valid.users, split.valid_negatives)):
            assert negs.shape == (len(users), 3)
            for u, row in zip(users.tolist(), negs.tolist()):
                assert len(set(row)) == 3 and not any((u, n) in seen for n in row)
    if spec.startswith("temporal") and len(split.test) and len(split.train):
        assert split.train.timestamps.max() <= split.test.timestamps.min()


def test_random_follows_the_protocol_permutation():
    inter = Interactions.from_raw(list(range(10)), [0] * 10, [1.0] * 10, list(range(10)))
    perm = np.random.default_rng(7).permutation(10)
    split = make_split(inter, "random:0.3", seed=7)
    assert sorted(split.test.users.tolist()) == sorted(perm[7:].tolist())


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), fraction=st.floats(0.0, 1.0), seed=st.integers(0, 2**32))
def test_the_permutation_tail_is_numpys_permutation_tail(n, fraction, seed):
    from deeprecs.data.shuffle import permutation_tail

    k = int(round(fraction * n))
    np.testing.assert_array_equal(permutation_tail(seed, n, k, compiled=True), np.random.default_rng(seed).permutation(n)[n - k:])


@pytest.mark.parametrize("n", [2**16 + 3, 300_001])  # several chunks of draws; steps cut at a chunk's end
def test_the_permutation_tail_matches_on_longer_streams(n):
    from deeprecs.data.shuffle import permutation_tail

    for k in (n // 5, n):
        np.testing.assert_array_equal(permutation_tail(3, n, k, compiled=True), np.random.default_rng(3).permutation(n)[n - k:])


def test_canonical_rebuild_ua_ub_from_file_order(tmp_path, write):
    # user 1 has 22 ratings, user 2 has 12: ua = each user's first 10 in file order, ub = 11th-20th
    lines = []
    for k in range(22):
        lines.append(f"1\t{100 + k}\t3\t{1000 - k}\n")  # timestamps descending: order is file order
        if k < 12:
            lines.append(f"2\t{200 + k}\t4\t{k}\n")
    write(tmp_path / "u.data", "".join(lines))
    ds = load_movielens(tmp_path)
    ua, ub = make_split(ds, "canonical:ua"), make_split(ds, "canonical:ub")
    raw = lambda p: sorted(zip(p.user_map.to_raw(p.users).tolist(), p.item_map.to_raw(p.items).tolist()))
    assert raw(ua.test) == [(1, 100 + k) for k in range(10)] + [(2, 200 + k) for k in range(10)]
    assert raw(ub.test) == [(1, 110 + k) for k in range(10)] + [(2, 210), (2, 211)]
    with pytest.raises(DataError, match="canonical:u1 cannot be rebuilt"):
        make_split(ds, "canonical:u1")


def test_canonical_reads_shipped_files(tmp_path, write):
    write(tmp_path / "u.data", "1\t10\t5\t100\n1\t20\t3\t200\n2\t10\t4\t150\n")
    write(tmp_path / "u1.test", "1\t20\t3\t200\n")
    write(tmp_path / "u1.base", "1\t10\t5\t100\n2\t10\t4\t150\n")
    split = make_split(load_movielens(tmp_path), "canonical:u1")
    assert len(split.train) == 2 and split.test.items.tolist() == [1]
    write(tmp_path / "u1.test", "1\t30\t3\t200\n")
    with pytest.raises(DataError, match=r"u1\.test:1: user/item not in the loaded ratings"):
        make_split(load_movielens(tmp_path), "canonical:u1")


def test_holdout_keeps_small_users_in_train():
    inter = Interactions.from_raw([1, 1, 1, 2], [1, 2, 3, 1], [1.0] * 4)
    split = make_split(inter, "holdout:2", seed=0)
    assert split.test.user_counts().tolist() == [2, 0] and split.notes["users_kept_in_train"] == 1


def test_loo_tie_rule_and_small_users():
    inter = Interactions.from_raw([1, 1, 1, 2, 2, 3], [5, 9, 7, 1, 2, 4], [1.0] * 6, [10, 50, 50, 3, 3, 1])
    split = make_split(inter, "loo", n_negatives=2)
    to_raw = lambda p: list(zip(p.user_map.to_raw(p.users).tolist(), p.item_map.to_raw(p.items).tolist()))
    assert to_raw(split.test) == [(1, 9), (2, 2)]   # tie at t=50: larger item; user 3 (1 row): none
    assert to_raw(split.valid) == [(1, 7)]          # user 2 (2 rows): no valid row
    assert split.notes["users_without_test"] == 1 and split.notes["users_without_valid"] == 2


@pytest.mark.parametrize("spec", ["random", "random:1.5", "holdout:0", "holdout:x", "canonical:u9", "kfold:5", "ncf", "loo:3"])
def test_bad_specs(spec):
    inter = Interactions.from_raw([1, 2], [1, 2], [1.0, 2.0], [1, 2])
    with pytest.raises(ConfigError):
        make_split(inter, spec)


def test_temporal_needs_timestamps():
    with pytest.raises(ConfigError, match="needs timestamps"):
        make_split(Interactions.from_raw([1, 2], [1, 2]), "temporal:0.5")
