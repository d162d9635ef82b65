"""Parsers for every MovieLens release layout.

* 100K: ``u.data`` (tab: user item rating timestamp), ``u.item`` (``|``, latin-1, 19 genre
  flags), ``u.user`` (``|``: id age gender occupation zip).
* 1M / 10M: ``ratings.dat``, ``movies.dat``, ``users.dat`` (1M only), ``::``-separated; 1M is
  latin-1, 10M UTF-8 (read as latin-1 only if UTF-8 fails).
* 20M / 25M / 32M / latest: ``ratings.csv``, ``movies.csv`` (header, commas, quoted titles).

Ids must be integers in these files (a non-integer id is a malformed line).  Duplicate
``(user, item)`` pairs follow ``duplicates=`` (default ``"last"``: the latest by timestamp
is kept; see :meth:`Interactions.from_raw`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deeprecs.data.dataset import Dataset
from deeprecs.data.interactions import Interactions
from deeprecs.data.textio import first_bad_row, read_delimited, require_file
from deeprecs.errors import DataError

RATING_COLS = [("user", "int"), ("item", "int"), ("rating", "float"), ("timestamp", "int")]
GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
]
_LAYOUTS = {"u.data": "100k", "ratings.dat": "dat", "ratings.csv": "csv"}


def detect_layout(folder: Path) -> str | None:
    """``"100k"``, ``"dat"`` or ``"csv"`` from the ratings file present in ``folder``."""
    for fname, layout in _LAYOUTS.items():
        if (Path(folder) / fname).is_file():
            return layout
    return None


def read_ratings(folder: Path, layout: str) -> pd.DataFrame:
    """The ratings table (``user, item, rating, timestamp``) of one release, in file order."""
    folder = Path(folder)
    if layout == "100k":
        return read_delimited(folder / "u.data", "\t", RATING_COLS)
    if layout == "dat":
        return read_delimited(folder / "ratings.dat", "::", RATING_COLS)
    if layout == "csv":
        path = require_file(folder / "ratings.csv")
        _check_header(path, ["userId", "movieId", "rating", "timestamp"])
        return read_delimited(path, ",", RATING_COLS, header=True)
    raise DataError(f"{folder}: unknown MovieLens layout {layout!r}")


def _check_header(path: Path, expected: list[str]) -> None:
    with open(path, encoding="utf-8", errors="replace") as f:
        first = f.readline().strip().lstrip("\ufeff")
    got = [c.strip().strip('"') for c in first.split(",")]
    if got[: len(expected)] != expected:
        raise DataError(f"{path}:1: expected the header {','.join(expected)}, found {first[:80]!r}")


def _year_from(title: pd.Series, date: pd.Series | None = None) -> pd.Series:
    """Year from a trailing ``(1995)`` in the title, else from the release date; NaN if neither."""
    year = pd.to_numeric(title.str.extract(r"\((\d{4})\)\s*$", expand=False), errors="coerce")
    if date is not None:
        from_date = pd.to_numeric(date.str.extract(r"(\d{4})\s*$", expand=False), errors="coerce")
        year = year.fillna(from_date)
    return year.astype("float64")


def read_items(folder: Path, layout: str) -> pd.DataFrame | None:
    """Item metadata indexed by raw item id: ``title``, ``year`` (float), ``genres`` (``|``-joined)."""
    folder = Path(folder)
    if layout == "100k":
        path = folder / "u.item"
        if not path.is_file():
            return None
        cols = [("item", "int"), ("title", "str"), ("release_date", "str"), ("video_date", "str"), ("url", "str")]
        cols += [(f"g{j}", "int") for j in range(len(GENRES_100K))]
        df = read_delimited(path, "|", cols, encoding="latin-1")
        flags = df[[f"g{j}" for j in range(len(GENRES_100K))]].to_numpy() > 0
        genres = pd.Series([""] * len(df), index=df.index)
        for j, genre in enumerate(GENRES_100K):  # 19 columns, vectorised over rows
            add = flags[:, j]
            genres[add] = np.where(genres[add] == "", genre, genres[add] + "|" + genre)
        out = pd.DataFrame({"title": df["title"].str.strip(), "year": _year_from(df["title"], df["release_date"]), "genres": genres})
    elif layout in ("dat", "csv"):
        path = folder / ("movies.dat" if layout == "dat" else "movies.csv")
        if not path.is_file():
            return None
        if layout == "dat":
            df = _read_dat_text(path, [("item", "int"), ("title", "str"), ("genres", "str")])
        else:
            _check_header(path, ["movieId", "title", "genres"])
            try:
                df = pd.read_csv(path, dtype={"movieId": "int64", "title": str, "genres": str}, keep_default_na=False)
            except (ValueError, pd.errors.ParserError) as exc:
                raise DataError(f"{path}: malformed ({str(exc).splitlines()[-1]})") from None
            df = df.rename(columns={"movieId": "item"})
        out = pd.DataFrame({"title": df["title"].str.strip(), "year": _year_from(df["title"]),
                            "genres": df["genres"].replace("(no genres listed)", "")})
        out.index = df["item"]
    else:
        return None
    out.index = pd.Index(df["item"].to_numpy(np.int64), name="item")
    return out


def read_users(folder: Path, layout: str) -> pd.DataFrame | None:
    """User features indexed by raw user id (``age, gender, occupation, zip``), where present."""
    folder = Path(folder)
    if layout == "100k" and (folder / "u.user").is_file():
        cols = [("user", "int"), ("age", "int"), ("gender", "str"), ("occupation", "str"), ("zip", "str")]
        df = read_delimited(folder / "u.user", "|", cols, encoding="latin-1")
    elif layout == "dat" and (folder / "users.dat").is_file():
        # 1M: occupation is a code (see the ML-1M README) and age a bucket (1, 18, 25, ...).
        cols = [("user", "int"), ("gender", "str"), ("age", "int"), ("occupation", "int"), ("zip", "str")]
        df = _read_dat_text(folder / "users.dat", cols)
    else:
        return None
    return df.set_index(pd.Index(df.pop("user").to_numpy(np.int64), name="user"))[["age", "gender", "occupation", "zip"]]


def _read_dat_text(path: Path, cols) -> pd.DataFrame:
    try:
        return read_delimited(path, "::", cols, encoding="utf-8")
    except DataError as exc:
        if "not valid utf-8" not in str(exc):
            raise
        return read_delimited(path, "::", cols, encoding="latin-1")


def load_movielens(folder: str | Path, *, name: str | None = None, duplicates: str = "last",
                   rating_values=None, source: str = "") -> Dataset:
    """Parse an extracted MovieLens folder into a :class:`Dataset` (ratings + side data)."""
    folder = Path(folder)
    layout = detect_layout(folder)
    if layout is None:
        raise DataError(f"{folder}: not a MovieLens folder (no u.data, ratings.dat or ratings.csv inside)")
    df = read_ratings(folder, layout)
    row = first_bad_row(df["rating"])
    if row is not None:  # read_delimited already refuses NaN; keep the invariant explicit
        raise DataError(f"{folder}: rating at data row {row + 1} is not a finite number")
    inter = Interactions.from_raw(
        df["user"].to_numpy(), df["item"].to_numpy(), df["rating"].to_numpy(np.float32),
        df["timestamp"].to_numpy(), duplicates=duplicates, meta={"layout": layout},
    )
    if rating_values is None:
        uniq = np.unique(inter.ratings)
        rating_values = uniq if len(uniq) <= 20 else None
    return Dataset(
        name=name or folder.name, interactions=inter, items=read_items(folder, layout),
        users=read_users(folder, layout),
        rating_values=None if rating_values is None else np.asarray(rating_values, dtype=np.float32),
        path=folder, source=source or str(folder), kind="ratings",
    )
