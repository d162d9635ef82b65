"""One entry point: ``load_dataset(spec)`` for registry names, NCF prefixes and local paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deeprecs.data import registry
from deeprecs.data.dataset import Dataset
from deeprecs.data.cache import read_source
from deeprecs.data.download import fetch
from deeprecs.data.movielens import detect_layout, load_movielens
from deeprecs.data.ncf import read_ncf
from deeprecs.data.tabular import frame_to_interactions, read_table
from deeprecs.errors import ConfigError

_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".tab", ".parquet", ".pq")
#: the roles a table's columns can play, and the column names taken when none are given (weights only when asked for)
DEFAULT_COLUMNS = {"user": "user", "item": "item", "rating": "rating", "timestamp": "timestamp", "weight": None}


def load_dataset(
    spec: str | Path,
    *,
    from_path: str | Path | None = None,
    duplicates: str = "last",
    columns: dict[str, str | None] | None = None,
    sep: str | None = None,
) -> Dataset:
    """Load a dataset from a spec.

    * a registry name (``ml-100k``, ``ml-1m``, ...): fetched (or taken from ``from_path``),
      parsed with side data, ``rating_values`` from the registry;
    * ``ncf:PREFIX``: the NCF benchmark files ``PREFIX.train.rating`` etc. (fixed split);
    * ``synthetic:N[,users=U,items=I,seed=S,...]``: a generated MovieLens-like log
      (:mod:`deeprecs.data.synthetic`; ``synthetic:32m`` has ML-32M's shape);
    * a folder holding a MovieLens release (``u.data`` / ``ratings.dat`` / ``ratings.csv``);
    * a CSV/TSV/Parquet file: columns ``user,item[,rating][,timestamp]`` by default;
      ``columns`` maps those roles to your column names (``None`` = absent), e.g.
      ``{"user": "uid", "item": "sku", "weight": "qty"}``; ``sep`` its separator (default: from
      the extension).
    ``duplicates``: ``last`` (default: latest by timestamp, else last in file), ``first``,
    ``mean``, ``sum`` (ratings and weights added up) or ``error``.
    """
    text = str(spec)
    if text in registry.REGISTRY:
        info = registry.get(text)
        folder = fetch(text, from_path)
        return load_movielens(folder, name=text, duplicates=duplicates,
                              rating_values=np.asarray(info.rating_values), source=read_source(folder))
    if text.startswith("ncf:"):
        return read_ncf(text[4:])
    if text.startswith("synthetic:"):
        from deeprecs.data.synthetic import load_synthetic

        return load_synthetic(text)
    path = Path(text).expanduser()
    if path.is_dir():
        if detect_layout(path) is None:
            raise ConfigError(f"{path}: not a MovieLens folder (no u.data, ratings.dat or ratings.csv inside)")
        return load_movielens(path, duplicates=duplicates, source=str(path))
    if path.is_file() or path.suffix.lower() in _TABLE_SUFFIXES:
        return _load_file(path, duplicates, columns, sep)
    raise ConfigError(
        f"unknown dataset {text!r}: use one of {', '.join(registry.names())}, ncf:PREFIX, synthetic:N, "
        f"or the path of a MovieLens folder or a CSV/TSV/Parquet file"
    )


def _load_file(path: Path, duplicates: str, columns: dict | None, sep: str | None) -> Dataset:
    cols = {**DEFAULT_COLUMNS, **(columns or {})}
    unknown = set(cols) - set(DEFAULT_COLUMNS)
    if unknown:
        raise ConfigError(f"columns= accepts the roles {', '.join(DEFAULT_COLUMNS)}, not {', '.join(sorted(unknown))}")
    df = read_table(path, sep)
    for role in ("rating", "timestamp"):  # optional roles left at their default: only if present
        if role not in (columns or {}) and cols[role] not in df.columns:
            cols[role] = None
    inter = frame_to_interactions(df, path, cols["user"], cols["item"], cols["rating"], cols["timestamp"], duplicates, cols["weight"])
    values = None
    if inter.ratings is not None:
        uniq = np.unique(inter.ratings)
        values = uniq if len(uniq) <= 20 else None
    return Dataset(name=path.stem, interactions=inter, rating_values=values, path=path.parent, source=str(path))
