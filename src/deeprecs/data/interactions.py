"""The interaction container: parallel index arrays plus the id vocabularies.

Every later step (splits, samplers, models, metrics, the store) works on dense indices
``0..n_users-1`` / ``0..n_items-1``; raw ids only appear at the edges (files, CLI, API),
translated by :class:`IdMap`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

import numpy as np
import scipy.sparse as sp

from deeprecs import jit
from deeprecs.errors import DataError, UnknownIdError
from deeprecs.pairs import encode, sorted_unique

DuplicatePolicy = Literal["last", "first", "mean", "sum", "error"]


def _as_raw_array(values: Iterable[Any]) -> np.ndarray:
    """Raw ids as int64 when every id is an integer, else as strings."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        raise DataError("ids must be integers or strings, got non-integer numbers")
    return arr.astype(str).astype(object)


def _vocabulary(raw: np.ndarray, compiled: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(raw, return_inverse=True)`` without its argsort (O(n log n) with poor locality:
    7.6 s for 10^7 ids, against 0.3 s here): integer ids within a span a few times their count
    through a table of which values occur (O(n); compiled from :data:`deeprecs.jit.COMPILED_FROM`
    ids on, or where ``compiled``), other integers by one sort and a binary search."""
    if raw.dtype.kind not in "iu" or len(raw) == 0:
        return np.unique(raw, return_inverse=True)
    lo, hi = int(raw.min()), int(raw.max())
    if hi - lo >= 4 * len(raw) + 1024:
        uniq = sorted_unique(raw)
        return uniq, np.searchsorted(uniq, raw)
    if jit.worth(len(raw)) if compiled is None else compiled and jit.available():  # the same, compiled: one pass each way and no array of n temporaries
        present = np.zeros(hi - lo + 1, dtype=bool)
        jit.compiled(_mark)(raw, lo, present)
        index = np.cumsum(present, dtype=np.int32 if len(raw) < 2**31 else np.int64) - 1
        return np.flatnonzero(present) + lo, jit.compiled(_gather)(raw, lo, index)
    shifted = raw - lo
    present = np.zeros(hi - lo + 1, dtype=bool)
    present[shifted] = True
    index = np.cumsum(present, dtype=np.int64) - 1
    return np.flatnonzero(present) + lo, index[shifted]


def counts(ids: np.ndarray, n: int, compiled: bool | None = None) -> np.ndarray:
    """``np.bincount(ids, minlength=n)``; int32 ids from :data:`deeprecs.jit.COMPILED_FROM` on (or
    where ``compiled``) counted by a compiled loop: bincount first copies them to int64."""
    if ids.dtype == np.int32 and (jit.worth(len(ids)) if compiled is None else compiled and jit.available()):
        return jit.compiled(_bincount)(ids, n)
    return np.bincount(ids, minlength=n)


def _bincount(ids, n):  # noqa: ANN001, ANN202 - compiled by numba
    out = np.zeros(max(n, ids.max() + 1 if len(ids) else 0), dtype=np.int64)
    for k in range(len(ids)):
        out[ids[k]] += 1
    return out


def _mark(raw, lo, present):  # noqa: ANN001, ANN202 - compiled by numba
    for k in range(len(raw)):
        present[raw[k] - lo] = True


def _gather(raw, lo, index):  # noqa: ANN001, ANN202 - compiled by numba
    out = np.empty(len(raw), dtype=index.dtype)
    for k in range(len(raw)):
        out[k] = index[raw[k] - lo]
    return out


class IdMap:
    """A vocabulary: raw id <-> dense index (index order = sorted raw ids)."""

    def __init__(self, raw_ids: Sequence[Any] | np.ndarray, *, kind: str = "id") -> None:
        raw = _as_raw_array(raw_ids)
        if len(sorted_unique(raw)) != len(raw):
            raise DataError(f"{kind} vocabulary has duplicate ids")
        self.raw = raw
        self.kind = kind
        self._table: dict[Any, int] | None = None  # raw id -> index, built on the first lookup

    @property
    def _lookup(self) -> dict[Any, int]:
        """The raw id -> index table, built once when first asked (a large log's load never needs it:
        Python per id, 0.5 s for 3 x 10^5 ids)."""
        if self._table is None:
            self._table = {self._key(r): i for i, r in enumerate(self.raw.tolist())}
        return self._table

    @staticmethod
    def _key(value: Any) -> Any:
        if isinstance(value, (np.integer,)):
            return int(value)
        return value

    @classmethod
    def build(cls, values: Sequence[Any] | np.ndarray, *, kind: str = "id") -> tuple["IdMap", np.ndarray]:
        """Vocabulary of the distinct ``values`` (sorted) and each value's index (int32: a large
        log's ids in half the memory of int64)."""
        uniq, codes = _vocabulary(_as_raw_array(values))
        return cls(uniq, kind=kind), codes.astype(np.int32 if len(uniq) < 2**31 else np.int64, copy=False)

    def __len__(self) -> int:
        return len(self.raw)

    def __contains__(self, raw_id: Any) -> bool:
        return self._coerce(raw_id) in self._lookup

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdMap) and len(self) == len(other) and bool(np.all(self.raw == other.raw))

    def _coerce(self, raw_id: Any) -> Any:
        """Accept ``"196"`` for an integer vocabulary (CLI/URL input is text)."""
        if self.raw.dtype.kind == "i":
            if isinstance(raw_id, str):
                try:
                    return int(raw_id)
                except ValueError:
                    return raw_id
            return self._key(raw_id)
        return str(raw_id)

    def index(self, raw_id: Any) -> int:
        """Index of one raw id; :class:`UnknownIdError` if it is not in the vocabulary."""
        try:
            return self._lookup[self._coerce(raw_id)]
        except KeyError:
            raise UnknownIdError(f"unknown {self.kind} id {raw_id!r} (not in the training data)") from None

    def indices(self, raw_ids: Iterable[Any]) -> np.ndarray:
        return np.fromiter((self.index(r) for r in raw_ids), dtype=np.int64)

    def to_raw(self, indices: np.ndarray | Sequence[int]) -> np.ndarray:
        return self.raw[np.asarray(indices, dtype=np.int64)]

    def to_json(self) -> list:
        return self.raw.tolist()

    @classmethod
    def from_json(cls, values: list, *, kind: str = "id") -> "IdMap":
        return cls(np.asarray(values, dtype=object if values and isinstance(values[0], str) else None), kind=kind)


def _index_array(values: Any) -> np.ndarray:
    """Indices as int32 where they come as int32 (a large log: half the memory), else int64."""
    arr = np.asarray(values)
    return arr if arr.dtype == np.int32 else arr.astype(np.int64, copy=False)


@dataclass(frozen=True, eq=False)
class Interactions:
    """Parallel arrays ``users[i], items[i], ratings[i], timestamps[i], weights[i]`` over shared vocabularies.

    Shapes: all arrays ``(n,)``. ``users`` / ``items`` are int64 (or, as given, int32: a large log)
    indices into ``user_map`` / ``item_map``; ``ratings`` float32 or ``None`` (implicit data); ``timestamps`` int64 or ``None``;
    ``weights`` float32 > 0 or ``None``: how much a row counts (a play count, a quantity), the
    implicit confidence ranking models train with (``--confidence``). Validated on construction.
    """

    users: np.ndarray
    items: np.ndarray
    user_map: IdMap
    item_map: IdMap
    ratings: np.ndarray | None = None
    timestamps: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    weights: np.ndarray | None = None
    #: derived views built once (:meth:`tocsr`); never passed on by :meth:`replace`
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        users, items = _index_array(self.users), _index_array(self.items)
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "items", items)
        n = len(users)
        if items.shape != (n,):
            raise DataError(f"users and items differ in length ({n} vs {len(items)})")
        if n and (users.min() < 0 or users.max() >= len(self.user_map)):
            raise DataError("user index out of range of the user vocabulary")
        if n and (items.min() < 0 or items.max() >= len(self.item_map)):
            raise DataError("item index out of range of the item vocabulary")
        if self.ratings is not None:
            ratings = np.asarray(self.ratings, dtype=np.float32)
            if ratings.shape != (n,):
                raise DataError("ratings and users differ in length")
            bad = ~np.isfinite(ratings)
            if bad.any():
                raise DataError(f"{int(bad.sum())} rating(s) are NaN or infinite (first at row {int(np.argmax(bad))})")
            object.__setattr__(self, "ratings", ratings)
        if self.timestamps is not None:
            ts = np.asarray(self.timestamps, dtype=np.int64)
            if ts.shape != (n,):
                raise DataError("timestamps and users differ in length")
            object.__setattr__(self, "timestamps", ts)
        if self.weights is not None:
            w = np.asarray(self.weights, dtype=np.float32)
            if w.shape != (n,):
                raise DataError("weights and users differ in length")
            bad = ~(np.isfinite(w) & (w > 0))
            if bad.any():
                raise DataError(f"{int(bad.sum())} weight(s) are not positive finite numbers (first at row {int(np.argmax(bad))})")
            object.__setattr__(self, "weights", w)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_raw(
        cls,
        users: Sequence[Any] | np.ndarray,
        items: Sequence[Any] | np.ndarray,
        ratings: Sequence[float] | np.ndarray | None = None,
        timestamps: Sequence[int] | np.ndarray | None = None,
        *,
        weights: Sequence[float] | np.ndarray | None = None,
        duplicates: DuplicatePolicy = "last",
        meta: dict | None = None,
    ) -> "Interactions":
        """Build vocabularies from raw ids and apply the duplicate policy.

        Duplicate ``(user, item)`` pairs: ``"last"`` (default) keeps the latest by timestamp,
        or the last in input order without timestamps; ``"first"`` the earliest; ``"mean"``
        averages the ratings and weights, ``"sum"`` adds them up (a log of purchases with their
        quantities), both keeping the latest timestamp; ``"error"`` refuses them.
        """
        if len(users) == 0:
            raise DataError("no interactions (the input is empty)")
        user_map, u = IdMap.build(users, kind="user")
        item_map, i = IdMap.build(items, kind="item")
        r = None if ratings is None else np.asarray(ratings, dtype=np.float32)
        t = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
        w = None if weights is None else np.asarray(weights, dtype=np.float32)
        inter = cls(u, i, user_map, item_map, r, t, dict(meta or {}), w)
        return inter.deduplicate(duplicates)

    def deduplicate(self, policy: DuplicatePolicy = "last") -> "Interactions":
        key = encode(self.users, self.items, len(self.item_map))
        key.sort()  # the common case, no duplicates: one sort in place, no argsort
        if not (key[1:] == key[:-1]).any():
            return self
        key = encode(self.users, self.items, len(self.item_map))  # in row order
        uniq, first_idx, counts = np.unique(key, return_index=True, return_counts=True)
        n_dup = int((counts - 1).sum())
        if policy == "error":
            row = int(np.setdiff1d(np.arange(len(key)), first_idx)[0])
            raise DataError(
                f"{n_dup} duplicate (user, item) pair(s), first at row {row}: "
                f"user {self.user_map.raw[self.users[row]]!r}, item {self.item_map.raw[self.items[row]]!r}"
            )
        # Order rows so that the row to keep comes last within each key.
        order_key = self.timestamps if self.timestamps is not None else np.zeros(len(key), np.int64)
        pos = np.arange(len(key))
        if policy == "first":
            order = np.lexsort((-pos, -order_key, key))
        else:
            order = np.lexsort((pos, order_key, key))
        sorted_key = key[order]
        last_in_group = np.r_[sorted_key[1:] != sorted_key[:-1], True]
        keep = np.sort(order[last_in_group])
        out = self.subset(keep)
        if policy in ("mean", "sum"):
            group, kept_group = np.searchsorted(uniq, key), np.searchsorted(uniq, key[keep])
            merged = {}
            for name in ("ratings", "weights"):
                values = getattr(self, name)
                if values is not None:
                    sums = np.bincount(group, weights=values, minlength=len(uniq))
                    merged[name] = (sums / counts if policy == "mean" else sums).astype(np.float32)[kept_group]
            out = out.replace(**merged)
        return out.replace(meta={**self.meta, "duplicates_merged": n_dup, "duplicate_policy": policy})

    # ----------------------------------------------------------------- views
    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_users(self) -> int:
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.n_items)

    def replace(self, **changes: Any) -> "Interactions":
        fields = dict(users=self.users, items=self.items, user_map=self.user_map, item_map=self.item_map,
                      ratings=self.ratings, timestamps=self.timestamps, meta=self.meta, weights=self.weights)
        fields.update(changes)
        return Interactions(**fields)

    def subset(self, rows: np.ndarray) -> "Interactions":
        """Rows selected by a boolean mask or an index array; vocabularies unchanged."""
        rows = np.asarray(rows)
        return self.replace(
            users=self.users[rows],
            items=self.items[rows],
            ratings=None if self.ratings is None else self.ratings[rows],
            timestamps=None if self.timestamps is None else self.timestamps[rows],
            weights=None if self.weights is None else self.weights[rows],
        )

    def positives(self, threshold: float | None) -> "Interactions":
        """Keep rows with rating >= threshold (all rows when ``threshold`` is None); drop ratings
        (weights stay: how much each kept row counts)."""
        if threshold is None or self.ratings is None:
            kept = self
        else:
            kept = self.subset(self.ratings >= threshold)
        return kept.replace(ratings=None, meta={**self.meta, "positive_threshold": threshold})

    def tocsr(self, values: Literal["ratings", "ones"] = "ones") -> sp.csr_matrix:
        """``(n_users, n_items)`` sparse matrix of ratings (or ones), built once per container and
        kept (the arrays are frozen, so is the matrix: it is read-only; copy it to change it)."""
        key = "ratings" if (values == "ratings" and self.ratings is not None) else "ones"
        m = self._cache.get(key)
        if m is None:
            data = self.ratings if key == "ratings" else np.ones(len(self), np.float32)
            m = sp.csr_matrix((data, (self.users, self.items)), shape=self.shape, dtype=np.float32)
            m.sum_duplicates()
            for array in (m.data, m.indices, m.indptr):
                array.flags.writeable = False
            self._cache[key] = m
        return m

    def user_counts(self) -> np.ndarray:
        return counts(self.users, self.n_users)

    def item_counts(self) -> np.ndarray:
        return counts(self.items, self.n_items)

    def to_frame(self):
        import pandas as pd

        cols = {"user": self.user_map.to_raw(self.users), "item": self.item_map.to_raw(self.items)}
        if self.ratings is not None:
            cols["rating"] = self.ratings
        if self.timestamps is not None:
            cols["timestamp"] = self.timestamps
        if self.weights is not None:
            cols["weight"] = self.weights
        return pd.DataFrame(cols)

    def __repr__(self) -> str:
        kind = "ratings" if self.ratings is not None else "implicit"
        return f"Interactions({len(self):,} {kind}, {self.n_users:,} users x {self.n_items:,} items)"
