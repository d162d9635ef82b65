"""NCF-family rating files in the variants other repositories ship: 2/3/4 columns, tabs, commas
or spaces, CRLF, a byte-order mark, a header line; counts told from ratings; bad lines named."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprecs.data.ncf import read_ncf
from deeprecs.data.ncf_files import read_rating_file, value_kind
from deeprecs.errors import DataError

SEPS = ["\t", ",", " ", "  ", " \t", ", "]
HEADERS = {2: "user item", 3: "user item value", 4: "user item rating timestamp"}


@st.composite
def rating_files(draw):
    """``(text, rows, columns, sep, header, crlf)``: a file and the rows it must read back as."""
    columns = draw(st.sampled_from([2, 3, 4]))
    n = draw(st.integers(1, 25))
    ids = st.integers(0, 10**6)
    third = st.one_of(st.integers(1, 500).map(float), st.sampled_from([0.5, 1.0, 2.5, 3.0, 4.0, 5.0]))
    rows = []
    for _ in range(n):
        row = [draw(ids), draw(ids)]
        if columns >= 3:
            row.append(draw(third))
        if columns == 4:
            row.append(draw(st.integers(0, 2**40)))
        rows.append(row)
    sep, crlf, header, bom = draw(st.sampled_from(SEPS)), draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    blank_end = draw(st.booleans())
    eol = "\r\n" if crlf else "\n"
    fmt = lambda v: f"{v:g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ([HEADERS[columns].replace(" ", sep)] if header else []) + [sep.join(map(fmt, r)) for r in rows]
    text = ("\ufeff" if bom else "") + eol.join(lines) + eol + (eol if blank_end else "")
    return text, rows, columns, header, crlf


def _write(text: str) -> tuple[tempfile.TemporaryDirectory, Path]:
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "x.train.rating"
    path.write_bytes(text.encode("utf-8"))
    return tmp, path


@settings(max_examples=150, deadline=None)
@given(rating_files())
def test_every_variant_reads_back_its_rows(case):
    text, rows, columns, header, crlf = case
    tmp, path = _write(text)
    with tmp:
        df, info = read_rating_file(path)
    assert (info.columns, info.header is not None, info.crlf, info.rows) == (columns, header, crlf, len(rows))
    expected = np.asarray(rows, dtype=np.float64)
    assert np.array_equal(df.to_numpy(np.float64), expected)
    assert list(df.columns) == ["user", "item", "rating", "timestamp"][:columns]
    if columns == 2:
        assert info.kind is None and "train_file_counts" not in info.notes("train")
    else:
        assert info.kind == value_kind(expected[:, 2], columns, "value" if header else None)
        assert info.notes("train")["train_file_counts"] == int(info.kind == "counts")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.integers(-3, 40).map(float), st.sampled_from([0.5, 3.5])), min_size=1, max_size=30))
def test_third_column_rule(values):
    v = np.asarray(values)
    counts = bool(np.all(v == np.round(v)) and v.min() >= 1 and (v.max() == 1 or v.max() > 10))
    assert value_kind(v, 3) == ("counts" if counts else "ratings")
    assert value_kind(v, 4) == "ratings"  # the NCF layout: user, item, rating, timestamp
    assert value_kind(v, 3, "playcount") == value_kind(v, 4, "count") == "counts"  # a header names it
    assert value_kind(v, 3, "rating") == "ratings"


@settings(max_examples=100, deadline=None)
@given(rating_files(), st.data())
def test_a_bad_line_is_named_by_file_and_line(case, data):
    text, rows, columns, header, crlf = case
    eol = "\r\n" if crlf else "\n"
    lines = text.split(eol)
    first_data = 1 if header else 0
    bad = data.draw(st.integers(first_data, first_data + len(rows) - 1))
    mutation = data.draw(st.sampled_from(["drop", "text"]))
    lines[bad] = (lines[bad].lstrip("\ufeff").split(",")[0].split()[0] if mutation == "drop" else
                  lines[bad].lstrip("\ufeff").replace(str(rows[bad - first_data][1]), "x", 1))
    if bad == 0 and mutation == "text" and not header:
        return  # a non-numeric first line is a header by definition
    tmp, path = _write(eol.join(lines))
    before = path.read_bytes()
    with tmp, pytest.raises(DataError, match=rf"x\.train\.rating:{bad + 1}: "):
        try:
            read_rating_file(path)
        finally:
            assert path.read_bytes() == before  # the file is never touched


def test_five_columns_and_header_mismatch_are_refused(tmp_path):
    path = tmp_path / "a.train.rating"
    path.write_text("1\t2\t3\t4\t5\n")
    with pytest.raises(DataError, match=r"a\.train\.rating:1: expected 2 \(user, item\), 3 .* found 5"):
        read_rating_file(path)
    path.write_text("user\titem\tcount\n1\t2\n")
    with pytest.raises(DataError, match=r"a\.train\.rating:2: 2 fields, but the header line names 3"):
        read_rating_file(path)
    path.write_text("user\titem\n")
    with pytest.raises(DataError, match=r"a\.train\.rating: no data rows after the header"):
        read_rating_file(path)


def _ncf(tmp_path: Path, train: str, test: str, negatives: str) -> Path:
    for suffix, text in (("train.rating", train), ("test.rating", test), ("test.negative", negatives)):
        (tmp_path / f"v.{suffix}").write_bytes(text.encode())
    return tmp_path / "v"


def test_three_column_counts_crlf_header_and_a_two_column_test_file(tmp_path):
    train = "user item plays\r\n0 0 12\r\n0 1 3\r\n1 1 40\r\n1 2 1\r\n2 0 7\r\n"
    prefix = _ncf(tmp_path, train, "0\t2\r\n1\t0\r\n2\t1\r\n", "(0,2)\t3\r\n(1,0)\t3\r\n(2,1)\t3\r\n")
    ds = read_ncf(prefix)
    s = ds.fixed_split
    assert s.train.weights.tolist() == [12, 3, 40, 1, 7] and s.train.ratings is None  # counts kept as confidence: implicit data
    assert s.train.meta["rating_column"] == "counts" and s.train.timestamps is None
    assert s.test.weights is None and ds.interactions.weights is None  # the test file has no counts
    assert s.test.items.tolist() == [2, 0, 1]
    assert {k: v for k, v in s.notes.items() if "_file_" in k} == {
        "train_file_columns": 3, "train_file_rows": 5, "train_file_header": 1, "train_file_crlf": 1, "train_file_counts": 1,
        "test_file_columns": 2, "test_file_rows": 3, "test_file_header": 0, "test_file_crlf": 1}
    assert s.notes["format"].startswith("train.rating: 3 whitespace-separated columns (user, item, counts), header, CRLF, 5 rows")


def test_three_column_ratings_in_both_files(tmp_path):
    prefix = _ncf(tmp_path, "0,0,4\n0,1,2\n1,1,5\n1,2,3\n", "0,2,5\n1,0,1\n", "(0,2)\t3\n(1,0)\t3\n")
    ds = read_ncf(prefix)
    assert ds.fixed_split.notes["train_file_counts"] == 0 and ds.fixed_split.notes["test_file_counts"] == 0
    assert ds.fixed_split.test.ratings.tolist() == [5, 1] and ds.interactions.ratings.tolist() == [4, 2, 5, 3, 5, 1]
