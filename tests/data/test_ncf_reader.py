"""The NCF benchmark reader and the validation hold-out."""

from __future__ import annotations

import numpy as np
import pytest

from deeprecs.data import load_dataset, make_split, with_validation
from deeprecs.data.ncf import read_ncf
from deeprecs.errors import DataError

TRAIN = "0\t0\n0\t1\n0\t2\n1\t1\n1\t3\n2\t0\n"
TEST = "0\t3\t5\t978824351\n1\t2\t3\t978300174\n2\t5\t4\t978298504\n"
# row 0 lists the test item 3 as a negative; row 1 lists 1 (in user 1's train) and 6 (only here)
NEG = "(0,3)\t4\t3\n(1,2)\t1\t6\n(2,5)\t4\t3\n"


@pytest.fixture
def prefix(tmp_path, write):
    p = tmp_path / "tiny"
    write(tmp_path / "tiny.train.rating", TRAIN)
    write(tmp_path / "tiny.test.rating", TEST)
    write(tmp_path / "tiny.test.negative", NEG)
    return p


def test_reads_files_and_counts_quirks(prefix):
    ds = read_ncf(prefix)
    s = ds.fixed_split
    assert ds.kind == "ncf" and s.spec == "ncf"
    assert len(s.train) == 6 and len(s.test) == 3
    assert ds.interactions.item_map.raw.tolist() == [0, 1, 2, 3, 4, 5, 6]  # negatives included
    assert s.test.user_map.raw.tolist() == [0, 1, 2]
    assert s.test.items.tolist() == [3, 2, 5]
    assert s.test_negatives.dtype == np.int64 and s.test_negatives.tolist() == [[4, 3], [1, 6], [4, 3]]
    quirks = {k: v for k, v in s.notes.items() if "_file_" not in k and k != "format"}
    assert quirks == {"negatives_equal_to_test_item": 1, "negatives_in_train": 1, "test_items_not_in_train": 1}
    assert {k: v for k, v in s.notes.items() if k.startswith("test_file_")} == {
        "test_file_columns": 4, "test_file_rows": 3, "test_file_header": 0, "test_file_crlf": 0, "test_file_counts": 0}
    assert s.notes["train_file_columns"] == 2 and "train_file_counts" not in s.notes
    assert s.train.ratings is None and s.test.ratings is None  # 2-column train: implicit; the test's ratings are not used


def test_four_column_train_keeps_ratings(prefix, write):
    write(prefix.parent / "tiny.train.rating", "".join(f"{line}\t4\t{k}\n" for k, line in enumerate(TRAIN.split("\n")[:-1])))
    s = read_ncf(prefix).fixed_split
    assert s.train.ratings.tolist() == [4] * 6 and s.test.timestamps[0] == 978824351


def test_make_split_and_load_dataset_return_the_fixed_split(prefix):
    ds = load_dataset(f"ncf:{prefix}")
    assert make_split(ds, "ncf") is ds.fixed_split
    assert make_split(ds, "random:0.2") is ds.fixed_split


def test_malformed_lines(prefix, write):
    write(prefix.parent / "tiny.test.negative", "(0,3)\t4\t3\n(1,2)\t1\n(2,5)\t4\t3\n")
    with pytest.raises(DataError, match=r"tiny\.test\.negative:2: expected 3"):
        read_ncf(prefix)
    write(prefix.parent / "tiny.test.negative", "(0,3)\t4\t3\n1,2\t1\t6\n(2,5)\t4\t3\n")
    with pytest.raises(DataError, match=r"tiny\.test\.negative:2: expected '\(user,item\)'"):
        read_ncf(prefix)
    write(prefix.parent / "tiny.test.negative", NEG)
    write(prefix.parent / "tiny.train.rating", "0\t0\n0\tx\n")
    with pytest.raises(DataError, match=r"tiny\.train\.rating:2: item must be an integer"):
        read_ncf(prefix)


def test_negative_row_must_match_test_row(prefix, write):
    write(prefix.parent / "tiny.test.negative", "(0,3)\t4\t3\n(1,4)\t1\t6\n(2,5)\t4\t3\n")
    with pytest.raises(DataError, match=r"tiny\.test\.negative:2: pair \(1,4\) does not match tiny\.test\.rating:2"):
        read_ncf(prefix)


def test_missing_file(prefix):
    prefix.parent.joinpath("tiny.test.negative").unlink()
    with pytest.raises(DataError, match="file not found"):
        read_ncf(prefix)


def _interacted(split):
    parts = [split.train, split.test] + ([split.valid] if split.valid is not None else [])
    return {(int(u), int(i)) for p in parts for u, i in zip(p.users, p.items)}


def test_with_validation_random_without_timestamps(tmp_path, write):
    rng = np.random.default_rng(3)
    rows = {(u, i) for u, i in zip(rng.integers(0, 30, 400), rng.integers(0, 200, 400))}
    write(tmp_path / "b.train.rating", "".join(f"{u}\t{i}\n" for u, i in sorted(rows)))
    test = {u: i for u, i in sorted(rows)}  # reuse an item per user: quirk, still valid input
    write(tmp_path / "b.test.rating", "".join(f"{u}\t{i}\t5\t1\n" for u, i in test.items()))
    write(tmp_path / "b.test.negative", "".join(f"({u},{i})\t{(i + 1) % 200}\n" for u, i in test.items()))
    split = read_ncf(tmp_path / "b").fixed_split
    v1, v2 = with_validation(split, seed=5, n_negatives=20), with_validation(split, seed=5, n_negatives=20)
    assert np.array_equal(v1.valid.items, v2.valid.items) and np.array_equal(v1.valid_negatives, v2.valid_negatives)
    counts = split.train.user_counts()
    assert len(v1.valid) == int((counts >= 2).sum())
    assert len(v1.train) + len(v1.valid) == len(split.train)
    assert np.array_equal(np.bincount(v1.valid.users, minlength=split.train.n_users), (counts >= 2).astype(int))
    seen = _interacted(v1)
    assert v1.valid_negatives.shape == (len(v1.valid), 20)
    for u, negs in zip(v1.valid.users, v1.valid_negatives):
        assert len(set(negs.tolist())) == 20 and not any((int(u), int(n)) in seen for n in negs)


def test_with_validation_latest_with_timestamps(prefix, write):
    write(prefix.parent / "tiny.train.rating", "0\t0\t5\t10\n0\t1\t5\t30\n0\t2\t5\t30\n1\t1\t5\t1\n1\t3\t5\t2\n2\t0\t5\t7\n")
    v = with_validation(read_ncf(prefix).fixed_split, seed=0, n_negatives=2)
    pairs = list(zip(v.valid.user_map.to_raw(v.valid.users).tolist(), v.valid.item_map.to_raw(v.valid.items).tolist()))
    assert pairs == [(0, 2), (1, 3)]  # user 0: tie at t=30 -> larger item; user 2 has 1 row
