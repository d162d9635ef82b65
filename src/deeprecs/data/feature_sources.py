"""Where feature tables come from: a dataset's own side data (MovieLens) or the user's files.

- MovieLens users (ML-100K, ML-1M): age (buckets), gender, occupation, zip prefix (first digit);
- MovieLens items: genres, release year (buckets), and where the release ships ``tags.csv``
  (ml-latest-small, ML-20M...), the tags users gave the movie (lower-cased);
- ``--user-features PATH`` / ``--item-features PATH``: a CSV/TSV/Parquet table whose first
  column is the id; the other columns' roles from ``--user-feature-columns`` /
  ``--item-feature-columns`` (``NAME=ROLE,...``, :func:`deeprecs.data.features.parse_columns`),
  else a column of numbers is cut into 10 buckets and any other column is categorical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deeprecs.data.dataset import Dataset
from deeprecs.data.features import Column, FeatureTable, Features, parse_columns
from deeprecs.data.tabular import read_table
from deeprecs.errors import DataError

USER_COLUMNS = [Column("age", "bucket", buckets=7), Column("gender"), Column("occupation"), Column("zip1")]
ITEM_COLUMNS = [Column("genres", "multi", sep="|"), Column("year", "bucket", buckets=10)]
TAG_SEP = "\x1f"


def dataset_tables(ds: Dataset) -> tuple[tuple[pd.DataFrame, list[Column]] | None, tuple[pd.DataFrame, list[Column]] | None]:
    """The dataset's own user and item tables with their columns' roles (``None`` where it ships none)."""
    users = items = None
    if ds.users is not None and len(ds.users):
        table = ds.users.copy()
        if "zip" in table.columns:
            table["zip1"] = table["zip"].astype("string").str.strip().str[:1]
        users = table, [c for c in USER_COLUMNS if c.name in table.columns]
    if ds.items is not None and len(ds.items):
        table = ds.items.copy()
        columns = [c for c in ITEM_COLUMNS if c.name in table.columns]
        tags = _tags(ds.path)
        if tags is not None:
            table["tags"] = tags.reindex(table.index)
            columns.append(Column("tags", "multi", sep=TAG_SEP))
        items = table, columns
    return users, items


def _tags(folder: Path | None) -> pd.Series | None:
    """Each movie's distinct tags (lower-cased, joined by :data:`TAG_SEP`) from ``tags.csv``."""
    path = None if folder is None else Path(folder) / "tags.csv"
    if path is None or not path.is_file():
        return None
    try:
        df = pd.read_csv(path, usecols=["movieId", "tag"], dtype={"movieId": "int64", "tag": str}, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: malformed ({str(exc).splitlines()[-1]})") from None
    tag = df["tag"].str.strip().str.lower().str.replace(TAG_SEP, " ", regex=False)
    df = df.assign(tag=tag)[tag != ""].drop_duplicates()
    return df.groupby("movieId")["tag"].agg(TAG_SEP.join)


def read_feature_file(path: str | Path, columns: str | None = None) -> tuple[pd.DataFrame, list[Column], np.ndarray]:
    """The user's table (indexed by its first column), its columns' roles and each row's file line."""
    df = read_table(path)
    label = str(path)
    id_col = df.columns[0]
    ids = df[id_col].astype("string").str.strip()
    if (ids == "").any():
        raise DataError(f"{label}:{int(np.argmax((ids == '').to_numpy())) + 2}: missing id ({id_col})")
    table = df.drop(columns=[id_col]).set_index(pd.Index(ids.to_numpy(object), name=id_col))
    table = table.replace("", None)
    if columns:
        roles = parse_columns(columns)
    else:
        roles = [_guess(table[c], c) for c in table.columns]
    if not roles:
        raise DataError(f"{label}: no feature columns besides the id column {id_col!r}")
    return table, roles, np.arange(2, len(df) + 2)


def _guess(values: pd.Series, name: str) -> Column:
    present = values.dropna()
    numeric = pd.to_numeric(present, errors="coerce")
    if len(present) and numeric.notna().all() and present.nunique() > 20:
        return Column(name, "bucket", buckets=10)
    return Column(name)


def load_features(ds: Dataset, user_file: str | None = None, item_file: str | None = None, user_columns: str | None = None,
                  item_columns: str | None = None, use_dataset: bool = True) -> Features:
    """The feature tables aligned to ``ds``'s id maps: the user's files where given, else the
    dataset's own side data (``use_dataset``). A malformed file raises before anything is written."""
    own_users, own_items = dataset_tables(ds) if use_dataset else (None, None)
    inter = ds.interactions
    tables = []
    for file, cols, own, raw in ((user_file, user_columns, own_users, inter.user_map.raw), (item_file, item_columns, own_items, inter.item_map.raw)):
        if file:
            table, roles, lines = read_feature_file(file, cols)
            tables.append(FeatureTable.build(table, raw, roles, str(file), lines))
        elif own is not None and own[1]:
            tables.append(FeatureTable.build(own[0], raw, own[1], f"{ds.name} side data"))
        else:
            tables.append(None)
    return Features(*tables)


__all__ = ["ITEM_COLUMNS", "USER_COLUMNS", "dataset_tables", "load_features", "read_feature_file"]
