"""Fast, strict reading of delimited text files with ``file:line`` error messages.

The fast path is one ``pandas.read_csv`` call (C engine) with explicit dtypes.  Anything odd
(a parse error, a missing or NaN value in a numeric column) sends us to a slow diagnostic scan
that walks the text once to find the first bad line, so the message names ``file:line`` and
says what is wrong.  The scan only runs when the file is already known to be broken.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from deeprecs.errors import DataError

ColType = Literal["int", "float", "str"]
#: ``sep=WHITESPACE``: fields separated by any run of spaces and tabs (leading/trailing ignored)
WHITESPACE = r"\s+"
_NA = ["", "nan", "NaN", "NAN", "NA", "N/A", "null", "NULL", "None"]


def require_file(path: Path) -> Path:
    """``path`` as a Path; :class:`DataError` when it is missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty")
    return path


def read_delimited(
    path: str | Path,
    sep: str,
    columns: list[tuple[str, ColType]],
    *,
    header: bool = False,
    encoding: str = "utf-8",
    label: str | None = None,
) -> pd.DataFrame:
    """Read ``path`` split on ``sep`` into the named, typed ``columns``.

    ``columns``: ``(name, "int" | "float" | "str")`` in file order; every line must have exactly
    that many fields (blank lines are skipped).  ``header``: skip the first line.  Multi-character separators
    (MovieLens ``::``) are rewritten to a tab in memory so the C parser can be used;
    ``WHITESPACE`` splits on runs of spaces and tabs.
    ``label``: the file name to show in messages (defaults to ``path``).
    """
    path = require_file(Path(path))
    label = label or str(path)
    text_sep = sep
    source: Path | io.BytesIO = path  # single-char separators: let pandas stream the file
    if len(sep) > 1 and sep != WHITESPACE:
        source = io.BytesIO(path.read_bytes().replace(sep.encode(encoding), b"\x1f"))
        text_sep = "\x1f"
    names = [c for c, _ in columns]
    numeric = [c for c, t in columns if t != "str"]
    dtypes = {c: ("float64" if t == "float" else str) for c, t in columns if t != "int"}
    dtypes.update({c: "int64" for c, t in columns if t == "int"})
    try:
        df = pd.read_csv(
            source, sep=text_sep, header=None, skiprows=1 if header else 0, names=names,
            dtype=dtypes, encoding=encoding, engine="c", quoting=csv.QUOTE_NONE,
            keep_default_na=False, na_values={c: _NA for c in numeric}, skip_blank_lines=True,
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError, OverflowError):
        df = None
    if df is not None and len(df) == 0:
        raise DataError(f"{label}: no data rows (the file holds only a header or blank lines)")
    # More fields on the first line than names makes pandas use the extras as an index.
    ok = df is not None and isinstance(df.index, pd.RangeIndex)
    if ok:
        for c, t in columns:
            if t == "float" and not np.isfinite(df[c].to_numpy()).all():
                ok = False
            if t == "str" and df[c].isna().any():
                ok = False  # a line with too few fields
    if ok:
        return df
    raw = source.getvalue() if isinstance(source, io.BytesIO) else path.read_bytes()
    _diagnose(raw, text_sep, columns, header=header, encoding=encoding, label=label)
    raise DataError(f"{label}: could not be parsed as {len(columns)} {sep!r}-separated fields")


def _diagnose(raw: bytes, sep: str, columns, *, header, encoding, label) -> None:
    """Walk the lines and raise a :class:`DataError` naming the first bad one."""
    shown_sep = "whitespace" if sep == WHITESPACE else repr("::" if sep == "\x1f" else sep)
    n_fields = len(columns)
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if header and lineno == 1:
            continue
        try:
            text = line.decode(encoding).rstrip("\r")
            if lineno == 1:
                text = text.lstrip("\ufeff")  # a byte-order mark (pandas drops it too)
        except UnicodeDecodeError:
            raise DataError(f"{label}:{lineno}: not valid {encoding} text") from None
        if not text.strip():
            continue
        fields = text.split() if sep == WHITESPACE else text.split(sep)
        if len(fields) != n_fields:
            raise DataError(
                f"{label}:{lineno}: expected {n_fields} {shown_sep}-separated fields, found {len(fields)}: {text[:80]!r}"
            )
        for (name, kind), value in zip(columns, fields):
            _check_value(label, lineno, name, kind, value.strip())


def _check_value(label: str, lineno: int, name: str, kind: str, value: str) -> None:
    if kind == "str":
        return
    if value in _NA:
        raise DataError(f"{label}:{lineno}: missing or NaN {name} ({value!r})")
    if kind == "int":
        try:
            int(value)
        except ValueError:
            raise DataError(f"{label}:{lineno}: {name} must be an integer, got {value!r}") from None
        return
    try:
        number = float(value)
    except ValueError:
        raise DataError(f"{label}:{lineno}: {name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise DataError(f"{label}:{lineno}: {name} is not a finite number ({value!r})")


def first_bad_row(values: pd.Series) -> int | None:
    """Position of the first NaN / non-finite entry of a numeric series, or None."""
    arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(arr)
    return int(np.argmax(bad)) if bad.any() else None
