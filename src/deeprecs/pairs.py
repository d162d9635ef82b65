"""Sets of ``(user, item)`` pairs as int64 keys ``user * n_items + item``: the one place this code lives.

A key orders pairs by user, then item, so a sorted key array is a CSR matrix's entries in
row order: membership is one binary search (or, for small catalogues, one gather from a
dense bitmap), a user's pairs are one contiguous run, and counts per user are one
``bincount`` of ``keys // n_items``. Used by the splits (locating listed rows), the samplers
(negatives that are not positives), the NCF reader (file quirks), evaluation (known dislikes)
and ALS (distinct pairs with their weights).
"""

from __future__ import annotations

import numpy as np
import torch


def encode(users, items, n_items: int):  # noqa: ANN001, ANN201 - numpy arrays or tensors alike
    """The keys of ``(users, items)`` (broadcast), int64: numpy in, numpy out; tensors in, tensors out."""
    if isinstance(users, torch.Tensor):
        return users.long() * n_items + items.long()
    users, items = np.asarray(users), np.asarray(items)
    if users.shape != items.shape:
        return users.astype(np.int64) * n_items + items.astype(np.int64)
    key = users.astype(np.int64)  # one new array, the rest in place (a large log: 3 fewer arrays of 8 bytes a row)
    key *= n_items
    key += items
    return key


def decode(keys: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """``(users, items)`` of ``keys``."""
    return keys // n_items, keys % n_items


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` via one sort (numpy 2.4's hash-based unique on int64 and its ``return_*``
    argsorts cost 10-60x more at 10^7 values; an unstable sort: equal values are alike)."""
    s = np.sort(np.asarray(values))
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Boolean mask of ``keys``' shape: which are in ``sorted_keys`` (sorted, unique)."""
    if len(sorted_keys) == 0:
        return np.zeros(np.shape(keys), dtype=bool)
    pos = np.searchsorted(sorted_keys, keys).clip(max=len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


class PairSet:
    """The distinct pairs of one or more parts (anything with ``users``, ``items``, ``n_items``,
    e.g. :class:`~deeprecs.data.interactions.Interactions`), as sorted unique keys."""

    def __init__(self, keys: np.ndarray, n_items: int, n_users: int | None = None) -> None:
        self.keys = keys
        self.n_items = n_items
        self.n_users = n_users

    @classmethod
    def of(cls, *parts) -> "PairSet":  # noqa: ANN002 - Interactions-like parts sharing one vocabulary
        n_items = parts[0].n_items
        users = np.concatenate([np.asarray(p.users) for p in parts])
        items = np.concatenate([np.asarray(p.items) for p in parts])
        return cls(sorted_unique(encode(users, items, n_items)), n_items, getattr(parts[0], "n_users", None))

    @classmethod
    def from_pairs(cls, users: np.ndarray, items: np.ndarray, n_items: int) -> "PairSet":
        return cls(sorted_unique(encode(users, items, n_items)), n_items)

    def __len__(self) -> int:
        return len(self.keys)

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Elementwise (broadcast): is ``(users, items)`` in the set?"""
        return contains(self.keys, encode(users, items, self.n_items))

    def user_counts(self, users: np.ndarray) -> np.ndarray:
        """How many pairs each of ``users`` has, int64 ``(len(users),)``."""
        users = np.asarray(users, dtype=np.int64)
        if len(users) == 0:
            return np.zeros(0, dtype=np.int64)
        owners = decode(self.keys, self.n_items)[0]
        size = max(int(users.max()) + 1, int(owners[-1]) + 1 if len(owners) else 0)
        return np.bincount(owners, minlength=size)[users]

    def unseen_counts(self, users: np.ndarray) -> np.ndarray:
        """How many items each of ``users`` is not paired with."""
        return self.n_items - self.user_counts(users)

    def difference(self, other: "PairSet") -> np.ndarray:
        """Sorted keys in this set and not in ``other``."""
        return np.setdiff1d(self.keys, other.keys, assume_unique=True)

    def row_starts(self, n_users: int) -> np.ndarray:
        """``(n_users + 1,)`` offsets of each user's run of keys (CSR ``indptr``)."""
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(np.bincount(decode(self.keys, self.n_items)[0], minlength=n_users))
        return indptr


__all__ = ["PairSet", "contains", "decode", "encode", "sorted_unique"]
