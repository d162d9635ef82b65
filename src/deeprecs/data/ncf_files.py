"""The variants of NCF-family rating files (``PREFIX.train.rating``, ``PREFIX.test.rating``).

Other papers' repositories ship the He et al. (2017) layout with variations; one reader takes
them all and reports what it found (:meth:`RatingFile.notes`):

* 2, 3 or 4 columns: ``user item``, ``user item value``, ``user item rating timestamp``;
* separated by tabs, commas or any run of spaces and tabs (the first data line decides);
* LF or CRLF line endings, with or without a UTF-8 byte-order mark;
* an optional header line: a first line whose user or item field is not an integer.

The third column is a rating or a count (:func:`value_kind`):

1. a header naming it decides: a name containing ``count``, ``cnt``, ``freq``, ``play``,
   ``click``, ``view``, ``times``, ``weight`` or ``conf`` (or just ``n``) means counts; one
   containing ``rat``, ``score``, ``star`` or ``pref`` means ratings;
2. without such a name, a 4-column file holds ratings (the NCF layout), and a 3-column file
   holds counts when every value is an integer >= 1 and either all are 1 or some exceed 10
   (above any rating scale); anything else (1-5 stars, half stars, 0-10 scales) is ratings.

Put a header line ``user item count`` (or ``... rating``) in the file to say which it is.
Counts are implicit confidence (how often the user met the item); they are kept, like
ratings, in ``Interactions.ratings``, and the notes say which they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from deeprecs.data.textio import WHITESPACE, read_delimited, require_file
from deeprecs.errors import DataError

COLUMNS = {
    2: [("user", "int"), ("item", "int")],
    3: [("user", "int"), ("item", "int"), ("rating", "float")],
    4: [("user", "int"), ("item", "int"), ("rating", "float"), ("timestamp", "int")],
}
_COUNT_NAME = re.compile(r"count|cnt|freq|play|click|view|times|weight|conf|^n$")
_RATING_NAME = re.compile(r"rat|score|star|pref")
_INT = re.compile(r"[+-]?\d+")
_SEP_NAMES = {"\t": "tab", ",": "comma", WHITESPACE: "whitespace"}


@dataclass(frozen=True)
class RatingFile:
    """What :func:`read_rating_file` found in one file."""

    path: Path
    columns: int
    sep: str
    header: tuple[str, ...] | None
    crlf: bool
    rows: int = 0
    kind: str | None = None  # "counts" or "ratings" for the third column; None with 2 columns

    def notes(self, part: str) -> dict:
        """Numeric notes ``{part}_file_columns``, ``_rows``, ``_header``, ``_crlf`` (0/1) and,
        with a third column, ``_counts`` (1: counts, 0: ratings)."""
        out = {f"{part}_file_columns": self.columns, f"{part}_file_rows": self.rows,
               f"{part}_file_header": int(self.header is not None), f"{part}_file_crlf": int(self.crlf)}
        if self.kind is not None:
            out[f"{part}_file_counts"] = int(self.kind == "counts")
        return out

    def describe(self) -> str:
        """One line, e.g. ``3 whitespace-separated columns (user, item, counts), header, CRLF, 120 rows``."""
        names = ["user", "item", self.kind or "", "timestamp"][: self.columns]
        text = f"{self.columns} {_SEP_NAMES[self.sep]}-separated columns ({', '.join(names)})"
        extras = (["header"] if self.header is not None else []) + (["CRLF"] if self.crlf else [])
        return ", ".join([text, *extras, f"{self.rows} rows"])


def split_fields(line: str) -> tuple[list[str], str]:
    """``(fields, sep)`` of one line: tabs when it is cleanly tab-separated, else commas when
    it has one, else runs of whitespace."""
    if "\t" in line and all(f and f == f.strip() for f in line.split("\t")):
        return line.split("\t"), "\t"
    if "," in line:
        return [f.strip() for f in line.split(",")], ","
    return line.split(), WHITESPACE


def sniff(path: Path) -> RatingFile:
    """The layout of ``path`` from its first lines (header, separator, columns, line endings)."""
    path = require_file(path)
    with open(path, "rb") as f:
        lines = [f.readline() for _ in range(2)]
    crlf = lines[0].endswith(b"\r\n")
    try:
        first = lines[0].decode("utf-8").lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError:
        raise DataError(f"{path}:1: not valid utf-8 text") from None
    fields, sep = split_fields(first)
    header = None
    if len(fields) >= 2 and not (_INT.fullmatch(fields[0]) and _INT.fullmatch(fields[1])):
        header = tuple(x.strip().strip('"').lower() for x in fields)
        data_line = lines[1].decode("utf-8", errors="replace").rstrip("\r\n")
        if not data_line.strip():
            raise DataError(f"{path}: no data rows after the header line {first[:80]!r}")
        fields, sep = split_fields(data_line)
        if len(fields) != len(header):
            raise DataError(f"{path}:2: {len(fields)} fields, but the header line names {len(header)}: {first[:80]!r}")
    if len(fields) not in COLUMNS:
        line = 2 if header else 1
        raise DataError(f"{path}:{line}: expected 2 (user, item), 3 (user, item, rating or count) or "
                        f"4 (user, item, rating, timestamp) fields, found {len(fields)}")
    return RatingFile(path, len(fields), sep, header, crlf)


def value_kind(values: np.ndarray, columns: int, name: str | None = None) -> str:
    """``"counts"`` or ``"ratings"`` for a third column (the module docstring's rule)."""
    if name and _COUNT_NAME.search(name):
        return "counts"
    if name and _RATING_NAME.search(name):
        return "ratings"
    if columns == 4 or len(values) == 0:
        return "ratings"
    whole = bool(np.all(values == np.round(values))) and float(values.min()) >= 1
    return "counts" if whole and (float(values.max()) == 1 or float(values.max()) > 10) else "ratings"


def read_rating_file(path: str | Path, kind: str | None = None) -> tuple[pd.DataFrame, RatingFile]:
    """``(frame, layout)``: columns ``user, item[, rating][, timestamp]`` in file order.

    ``kind``: what the third column is when already known (the test file follows the train
    file); None decides it by :func:`value_kind`.
    """
    info = sniff(Path(path))
    df = read_delimited(info.path, info.sep, COLUMNS[info.columns], header=info.header is not None)
    third = None
    if info.columns >= 3:
        name = info.header[2] if info.header else None
        third = kind or value_kind(df["rating"].to_numpy(), info.columns, name)
    return df, RatingFile(info.path, info.columns, info.sep, info.header, info.crlf, len(df), third)
