"""Feature tables: what is known about users and items, as bags of feature ids aligned to the id maps.

A raw table (a DataFrame indexed by raw id) and its columns' roles become a :class:`FeatureTable`:

- ``categorical``: one feature per distinct value (``gender=F``);
- ``multi:SEP``: a value holds several, separated by ``SEP`` (``genres=Comedy|Drama``);
- ``bucket:N``: a number cut at its ``N``-quantiles (``year=[1990,1994)``);
- ``scale``: a number standardised on the table, one feature whose weight is the value.

A missing value is a feature of its own (``gender=<missing>``), and so is an id of the
interactions that has no row in the table. The learned encoding (vocabularies, bucket edges,
means) is the :class:`FeatureEncoder`: saved with a run, it encodes a new user's or item's raw
values the same way (``encode``). Shapes: ``n_rows`` = the id map's length, ``n_features`` = the
vocabulary; row ``r``'s features are ``indices[indptr[r]:indptr[r + 1]]`` with ``weights``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from deeprecs.batch import FeatureBag
from deeprecs.errors import DataError

Role = Literal["categorical", "multi", "bucket", "scale"]
MISSING = "<missing>"


@dataclass(frozen=True)
class Column:
    """One column's role: ``sep`` for ``multi``, ``buckets`` for ``bucket``."""

    name: str
    role: Role = "categorical"
    sep: str = "|"
    buckets: int = 10

    @classmethod
    def parse(cls, text: str) -> "Column":
        """``NAME=ROLE`` with ROLE ``categorical``, ``multi[:SEP]``, ``bucket[:N]`` or ``scale``."""
        name, eq, spec = text.partition("=")
        role, _, arg = spec.strip().partition(":")
        if not eq or not name.strip():
            raise DataError(f"feature column {text!r}: expected NAME=ROLE (categorical, multi:SEP, bucket:N, scale)")
        name = name.strip()
        if role == "categorical" and not arg:
            return cls(name)
        if role == "multi":
            return cls(name, "multi", sep=arg or "|")
        if role == "bucket" and (not arg or arg.isdigit() and int(arg) >= 1):
            return cls(name, "bucket", buckets=int(arg or 10))
        if role == "scale" and not arg:
            return cls(name, "scale")
        raise DataError(f"feature column {text!r}: unknown role {spec!r} (categorical, multi:SEP, bucket:N, scale)")

    def spec(self) -> str:
        extra = {"multi": f":{self.sep}", "bucket": f":{self.buckets}"}.get(self.role, "")
        return f"{self.name}={self.role}{extra}"


def parse_columns(text: str) -> list[Column]:
    """``"age=bucket:5,gender=categorical,genres=multi:|"`` -> columns."""
    return [Column.parse(part) for part in text.split(",") if part.strip()]


def _numbers(values: pd.Series, column: str, label: str, line_of: np.ndarray) -> np.ndarray:
    """The column as floats (NaN where missing); a text value is an error naming its line."""
    text = values.astype("string").str.strip()
    missing = values.isna() | (text == "")
    out = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(np.float64, na_value=np.nan)
    bad = np.flatnonzero(np.isnan(out) & ~missing.to_numpy() | np.isinf(out))
    if len(bad):
        raise DataError(f"{label}:{line_of[bad[0]]}: {column} must be a number, got {values.iloc[bad[0]]!r}")
    return out


@dataclass
class FeatureEncoder:
    """The learned encoding of a table's columns: per column, its role and what it learned
    (``values``: categories; ``edges``: bucket cut points; ``mean``/``std``: scaling)."""

    columns: list[Column]
    learned: list[dict] = field(default_factory=list)

    @classmethod
    def fit(cls, table: pd.DataFrame, columns: list[Column], label: str = "table", line_of: np.ndarray | None = None) -> "FeatureEncoder":
        line_of = np.arange(2, len(table) + 2) if line_of is None else line_of
        learned = []
        for col in columns:
            if col.name not in table.columns:
                raise DataError(f"{label}: no column {col.name!r} (columns: {', '.join(map(str, table.columns))})")
            values = table[col.name]
            if col.role in ("bucket", "scale"):
                x = _numbers(values, col.name, label, line_of)
                x = x[np.isfinite(x)]
                if col.role == "bucket":
                    edges = np.unique(np.quantile(x, np.linspace(0, 1, col.buckets + 1)[1:-1])) if len(x) else np.zeros(0)
                    learned.append({"edges": edges.tolist()})
                else:
                    learned.append({"mean": float(x.mean()) if len(x) else 0.0, "std": float(x.std()) if len(x) and x.std() > 0 else 1.0})
            else:
                learned.append({"values": sorted(set(_tokens(values, col)))})
        return cls(columns, learned)

    def feature_names(self) -> list[str]:
        """Every feature's name, in id order: per column its values, then its ``<missing>``."""
        names = []
        for col, info in zip(self.columns, self.learned):
            if col.role == "scale":
                names.append(col.name)
            elif col.role == "bucket":
                edges = [-np.inf, *info["edges"], np.inf]
                names += [f"{col.name}=[{lo:g},{hi:g})" for lo, hi in zip(edges[:-1], edges[1:])]
            else:
                names += [f"{col.name}={v}" for v in info["values"]]
            names.append(f"{col.name}={MISSING}")
        return names

    def fields(self) -> np.ndarray:
        """``(n_features,)`` the column each feature belongs to."""
        sizes = [(len(i["edges"]) + 1 if c.role == "bucket" else len(i.get("values", ())) if c.role != "scale" else 1) + 1
                 for c, i in zip(self.columns, self.learned)]
        return np.repeat(np.arange(len(sizes)), sizes)

    @property
    def n_features(self) -> int:
        return len(self.fields())

    def encode(self, table: pd.DataFrame, label: str = "table", line_of: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """CSR ``(indptr (n+1,), indices, weights)`` of ``table``'s rows (vectorised per column).
        Values never seen when fitting count as missing."""
        n = len(table)
        line_of = np.arange(2, n + 2) if line_of is None else line_of
        rows, ids, weights = [], [], []
        start = 0
        for col, info in zip(self.columns, self.learned):
            values = table[col.name] if col.name in table.columns else pd.Series([None] * n, index=table.index, dtype=object)
            if col.role in ("bucket", "scale"):
                x = _numbers(values, col.name, label, line_of)
                ok = np.isfinite(x)
                if col.role == "bucket":
                    width = len(info["edges"]) + 1
                    code = np.where(ok, np.searchsorted(np.asarray(info["edges"]), np.where(ok, x, 0), side="right"), width)
                    w = np.ones(n)
                else:
                    width = 1
                    code = np.where(ok, 0, width)
                    w = np.where(ok, (np.where(ok, x, 0) - info["mean"]) / info["std"], 1.0)
                rows.append(np.arange(n)), ids.append(start + code), weights.append(w)
            else:
                vocab = {v: k for k, v in enumerate(info["values"])}
                width = len(vocab)
                row, tokens = _row_tokens(values, col)
                code = np.array([vocab.get(t, -1) for t in tokens], dtype=np.int64)
                if len(code):  # a value named twice in one row counts once
                    row, code = np.unique(np.stack([row, code]), axis=1)
                known = code >= 0
                has = np.bincount(row[known], minlength=n) > 0
                row = np.concatenate([row[known], np.flatnonzero(~has)])
                code = np.concatenate([code[known], np.full((~has).sum(), width)])
                rows.append(row), ids.append(start + code), weights.append(np.ones(len(row)))
            start += width + 1
        row, idx, w = (np.concatenate(a) if a else np.zeros(0) for a in (rows, ids, weights))
        order = np.lexsort((idx, row))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(row.astype(np.int64), minlength=n))]).astype(np.int64)
        return indptr, idx[order].astype(np.int64), w[order].astype(np.float32)

    def to_json(self) -> dict:
        return {"columns": [c.spec() for c in self.columns], "learned": self.learned}

    @classmethod
    def from_json(cls, data: dict) -> "FeatureEncoder":
        return cls([Column.parse(c) for c in data["columns"]], list(data["learned"]))


def _row_tokens(values: pd.Series, col: Column) -> tuple[np.ndarray, list[str]]:
    """``(row of each token, tokens)``: a value's parts (``multi``) or the value, stripped; none where missing."""
    text = values.astype("string").str.strip().fillna("")
    parts = text.str.split(col.sep, regex=False) if col.role == "multi" else text.map(lambda v: [v])
    exploded = parts.explode()
    tokens = exploded.astype("string").str.strip().fillna("")
    row = np.repeat(np.arange(len(values)), parts.map(len).to_numpy(np.int64))
    keep = (tokens != "").to_numpy()
    return row[keep], tokens[keep].tolist()


def _same_kind(index: pd.Index, raw_ids: np.ndarray) -> np.ndarray:
    """The table's ids in the id map's kind (integers where the map's are; text otherwise)."""
    if raw_ids.dtype.kind in "iu":
        as_int = pd.to_numeric(pd.Series(index.astype(str)), errors="coerce").to_numpy(np.float64)
        return np.where(np.isfinite(as_int), as_int, -0.5 - np.arange(len(index)))  # a non-integer id matches no id
    return index.astype(str).to_numpy(object)


def _tokens(values: pd.Series, col: Column) -> list[str]:
    return _row_tokens(values, col)[1]


@dataclass
class FeatureTable:
    """Bags of feature ids, one per id of an id map (see the module docstring). ``report``: what
    aligning the raw table to the ids found (rows for ids absent from the interactions, ids with no row)."""

    encoder: FeatureEncoder
    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    report: dict = field(default_factory=dict)

    @classmethod
    def build(cls, table: pd.DataFrame, raw_ids: np.ndarray, columns: list[Column], label: str = "table",
              line_of: np.ndarray | None = None) -> "FeatureTable":
        """``table`` (indexed by raw id) encoded for the ids ``raw_ids`` (an id map's, in index
        order): the encoding is learned on the whole table; a row whose id is not among
        ``raw_ids`` is counted, an id without a row gets every column's ``<missing>``."""
        line_of = np.arange(2, len(table) + 2) if line_of is None else line_of
        keys = pd.Index(_same_kind(table.index, np.asarray(raw_ids)))
        dup = keys.duplicated()
        if dup.any():
            raise DataError(f"{label}:{line_of[np.argmax(dup)]}: id {table.index[np.argmax(dup)]!r} appears twice")
        encoder = FeatureEncoder.fit(table, columns, label, line_of)
        present = keys.get_indexer(pd.Index(raw_ids))
        aligned = table.reset_index(drop=True).reindex(present)  # -1: a row of NaN
        aligned.loc[present < 0] = None
        indptr, indices, weights = encoder.encode(aligned, label)
        report = {"columns": [c.spec() for c in columns], "n_features": encoder.n_features,
                  "rows_not_in_interactions": int(len(table) - (present >= 0).sum()), "ids_without_row": int((present < 0).sum())}
        return cls(encoder, indptr, indices, weights, report)

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_features(self) -> int:
        return self.encoder.n_features

    def names(self) -> list[str]:
        return self.encoder.feature_names()

    def rows(self, rows: np.ndarray | list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each row's ``(feature ids, weights)``."""
        return ([self.indices[self.indptr[r]:self.indptr[r + 1]] for r in rows],
                [self.weights[self.indptr[r]:self.indptr[r + 1]] for r in rows])

    def bag(self, rows: torch.Tensor) -> FeatureBag:
        """The :class:`FeatureBag` of ``rows (B,)`` (on ``rows``' device)."""
        from deeprecs.models.layers import csr_gather

        dev = rows.device
        indptr = torch.from_numpy(self.indptr).to(dev)
        _, pos, lengths = csr_gather(indptr, rows)
        return FeatureBag(torch.from_numpy(self.indices).to(dev)[pos], torch.cumsum(lengths, 0) - lengths,
                          torch.from_numpy(self.weights).to(dev)[pos])

    def new_rows(self, table: pd.DataFrame) -> FeatureBag:
        """A :class:`FeatureBag` for rows not in the table (a new user's or item's raw values)."""
        indptr, indices, weights = self.encoder.encode(table)
        return FeatureBag(torch.from_numpy(indices), torch.from_numpy(indptr[:-1]), torch.from_numpy(weights))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}_indptr": self.indptr, f"{prefix}_indices": self.indices, f"{prefix}_weights": self.weights}

    def to_json(self) -> dict[str, Any]:
        return {"encoder": self.encoder.to_json(), "report": self.report}

    @classmethod
    def from_saved(cls, meta: dict, arrays: dict[str, np.ndarray], prefix: str) -> "FeatureTable":
        return cls(FeatureEncoder.from_json(meta["encoder"]), arrays[f"{prefix}_indptr"], arrays[f"{prefix}_indices"],
                   arrays[f"{prefix}_weights"], dict(meta.get("report", {})))


@dataclass
class Features:
    """A run's user and item feature tables (either may be ``None``)."""

    users: FeatureTable | None = None
    items: FeatureTable | None = None

    def __bool__(self) -> bool:
        return self.users is not None or self.items is not None

    def report(self) -> dict:
        """For ``metrics.json``: which features were used, and what aligning found."""
        return {f"{side}": table.report for side, table in (("user_features", self.users), ("item_features", self.items))
                if table is not None}


__all__ = ["MISSING", "Column", "FeatureEncoder", "FeatureTable", "Features", "parse_columns"]
