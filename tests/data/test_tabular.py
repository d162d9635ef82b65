"""The generic CSV/TSV/Parquet loader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprecs.data import load_dataset
from deeprecs.data.tabular import load_table
from deeprecs.errors import DataError


def test_csv_with_string_ids(tmp_path, write):
    path = write(tmp_path / "log.csv", "user,item,rating\nalice,sku-1,4\nbob,sku-2,3.5\nalice,sku-2,1\n")
    inter = load_table(path, rating_col="rating")
    assert inter.user_map.raw.tolist() == ["alice", "bob"]
    assert inter.item_map.raw.tolist() == ["sku-1", "sku-2"]
    assert inter.ratings.tolist() == [4.0, 3.5, 1.0]
    assert inter.user_map.index("bob") == 1


def test_integer_ids_stay_integers_and_tsv_sniffed(tmp_path, write):
    path = write(tmp_path / "log.tsv", "u\ti\tts\n7\t3\t10\n8\t3\t11\n")
    inter = load_table(path, user_col="u", item_col="i", timestamp_col="ts")
    assert inter.user_map.raw.dtype == np.int64 and inter.user_map.raw.tolist() == [7, 8]
    assert inter.ratings is None and inter.timestamps.tolist() == [10, 11]


def test_parquet_and_date_timestamps(tmp_path):
    path = tmp_path / "log.parquet"
    pd.DataFrame({"user": [1, 2], "item": ["a", "b"], "rating": [1.0, 2.0],
                  "when": ["1970-01-01T00:00:10Z", "1970-01-02T00:00:00Z"]}).to_parquet(path)
    inter = load_table(path, rating_col="rating", timestamp_col="when")
    assert inter.timestamps.tolist() == [10, 86400]
    assert inter.item_map.raw.tolist() == ["a", "b"]


def test_missing_column_names_existing_ones(tmp_path, write):
    path = write(tmp_path / "log.csv", "uid,iid\n1,2\n")
    with pytest.raises(DataError, match=r"no column\(s\) 'user', 'item'; the columns are: uid, iid"):
        load_table(path)


@pytest.mark.parametrize(("value", "line"), [("abc", 3), ("", 3), ("nan", 3)])
def test_bad_ratings_name_the_line(tmp_path, write, value, line):
    path = write(tmp_path / "log.csv", f"user,item,rating\n1,2,3\n1,3,{value}\n")
    with pytest.raises(DataError, match=rf"log\.csv:{line}: rating must be a finite number"):
        load_table(path, rating_col="rating")


def test_malformed_line_and_empty_file(tmp_path, write):
    path = write(tmp_path / "log.csv", "user,item\n1,2\n1,2,3,4\n")
    with pytest.raises(DataError, match=r"log\.csv: malformed line \(Expected 2 fields in line 3, saw 4\)"):
        load_table(path)
    with pytest.raises(DataError, match="file is empty"):
        load_table(write(tmp_path / "empty.csv", ""))
    with pytest.raises(DataError, match="no data rows"):
        load_table(write(tmp_path / "header.csv", "user,item\n"))
    with pytest.raises(DataError, match="missing user id"):
        load_table(write(tmp_path / "noid.csv", "user,item\n1,2\n,3\n"))


@pytest.mark.parametrize(("policy", "rating"), [("last", 1.0), ("first", 5.0), ("mean", 3.0)])
def test_duplicates(tmp_path, write, policy, rating):
    path = write(tmp_path / "log.csv", "user,item,rating\na,x,5\na,x,1\n")
    inter = load_table(path, rating_col="rating", duplicates=policy)
    assert len(inter) == 1 and inter.ratings.tolist() == [rating]
    with pytest.raises(DataError, match="duplicate"):
        load_table(path, rating_col="rating", duplicates="error")


def test_load_dataset_file_defaults_and_columns(tmp_path, write):
    path = write(tmp_path / "log.csv", "user,item,rating,timestamp\n1,2,4,9\n2,2,5,8\n")
    ds = load_dataset(path)
    assert ds.interactions.timestamps.tolist() == [9, 8] and ds.rating_values.tolist() == [4, 5]
    path2 = write(tmp_path / "clicks.csv", "uid,sku\n1,a\n")
    ds2 = load_dataset(path2, columns={"user": "uid", "item": "sku"})
    assert ds2.interactions.ratings is None and ds2.name == "clicks"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=40), st.sampled_from([1, 10**12]), st.booleans())
def test_vocabulary_is_np_unique_with_inverse(values, scale, compiled):
    """Ids to indices without np.unique's argsort, in both regimes (a table of the values
    present for a narrow span, a sort + binary search for a wide one), and the table's compiled
    twin (large logs): np.unique's answer."""
    from deeprecs.data.interactions import _vocabulary

    raw = np.asarray(values, dtype=np.int64) * scale
    uniq, codes = _vocabulary(raw, compiled)
    want_uniq, want_codes = np.unique(raw, return_inverse=True)
    assert np.array_equal(uniq, want_uniq) and np.array_equal(codes, want_codes)
    if scale == 1:  # and the counts of the codes, as bincount's
        from deeprecs.data.interactions import counts

        assert np.array_equal(counts(codes.astype(np.int32), len(uniq) + 2, compiled), np.bincount(codes, minlength=len(uniq) + 2))


def test_text_ids_are_trimmed_and_parsed_as_integers_or_kept_as_text(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("user,item\n +7 ,a\n-3,b \n12,c\n")
    ds = load_table(path)
    assert ds.user_map.raw.tolist() == [-3, 7, 12] and ds.item_map.raw.tolist() == ["a", "b", "c"]
