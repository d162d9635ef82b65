"""Vectorised negative sampling: items a user never interacted with, uniformly, seeded."""

from __future__ import annotations

import numpy as np

from deeprecs.data.interactions import Interactions
from deeprecs.errors import ConfigError


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` via one sort (faster than numpy 2.4's hash-based unique on int64)."""
    s = np.sort(np.asarray(values), kind="stable")
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def interaction_keys(users: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """Sorted unique ``user * n_items + item`` keys (for fast membership tests)."""
    return sorted_unique(np.asarray(users, np.int64) * n_items + np.asarray(items, np.int64))


def contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``keys`` are in ``sorted_keys`` (sorted, unique)."""
    if len(sorted_keys) == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.searchsorted(sorted_keys, keys).clip(max=len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


def sample_negatives(
    users: np.ndarray,
    seen: Interactions | list[Interactions],
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(len(users), n)`` int64 items, per row distinct and never seen by that user.

    ``seen``: the interactions that count as "interacted with" (e.g. the whole dataset).
    Rejection sampling: draw all rows at once, redraw only rejected cells until none remain.
    :class:`ConfigError` when some user has fewer than ``n`` unseen items.
    """
    parts = seen if isinstance(seen, list) else [seen]
    n_items = parts[0].n_items
    users = np.asarray(users, dtype=np.int64)
    keys = _seen_keys(parts)
    if len(users) == 0 or n == 0:
        return np.zeros((len(users), n), dtype=np.int64)
    unseen = _unseen(keys, users, n_items)
    short = unseen < n
    if short.any():
        row = int(np.argmax(short))
        raise ConfigError(
            f"cannot sample {n} negatives: user index {int(users[row])} has only {int(unseen[row])} "
            f"unseen items; lower n_negatives"
        )
    out = rng.integers(0, n_items, size=(len(users), n), dtype=np.int64)
    rows = np.arange(len(users))  # rows that still need checking
    while len(rows):
        block = out[rows]
        bad = contains(keys, users[rows, None] * n_items + block)
        bad |= _repeats(block)
        n_bad = int(bad.sum())
        if n_bad == 0:
            break
        block[bad] = rng.integers(0, n_items, size=n_bad, dtype=np.int64)
        out[rows] = block
        rows = rows[bad.any(axis=1)]
    return out


def unseen_counts(users: np.ndarray, seen: Interactions | list[Interactions]) -> np.ndarray:
    """How many items each of ``users`` never interacted with in ``seen`` (what
    :func:`sample_negatives` can draw from), ``(len(users),)`` int64."""
    parts = seen if isinstance(seen, list) else [seen]
    return _unseen(_seen_keys(parts), np.asarray(users, dtype=np.int64), parts[0].n_items)


def _seen_keys(parts: list[Interactions]) -> np.ndarray:
    return interaction_keys(np.concatenate([p.users for p in parts]), np.concatenate([p.items for p in parts]), parts[0].n_items)


def _unseen(keys: np.ndarray, users: np.ndarray, n_items: int) -> np.ndarray:
    if len(users) == 0:
        return np.zeros(0, dtype=np.int64)
    return n_items - np.bincount(keys // n_items, minlength=int(users.max()) + 1)[users]


def _repeats(block: np.ndarray) -> np.ndarray:
    """Mask of entries equal to an earlier entry of the same row."""
    order = np.argsort(block, axis=1, kind="stable")
    srt = np.take_along_axis(block, order, axis=1)
    dup_sorted = np.zeros(block.shape, dtype=bool)
    dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
    dup = np.zeros(block.shape, dtype=bool)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return dup
