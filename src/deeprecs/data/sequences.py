"""Each user's items in time order: the input of sequential models (SASRec, GRU4Rec).

A user's history is their rows sorted by timestamp, **stable on ties** (rows with the same
timestamp keep the order they have in the data), of which the latest ``max_len`` are kept,
left-padded with ``-1`` so that every user's latest item sits in the last column (the layout of
:attr:`deeprecs.batch.Batch.history`). Built from train data only (train + validation after a
refit), so a held-out item is never in the history that scores it.
"""

from __future__ import annotations

import numpy as np

from deeprecs.data.interactions import Interactions
from deeprecs.errors import ConfigError


def require_timestamps(inter: Interactions, model: str) -> None:
    """A sequential model orders each user's items by time: refuse data without timestamps."""
    if inter.timestamps is None:
        raise ConfigError(f"{model} reads each user's items in time order, and this data has no timestamps; "
                          "use data with a timestamp column (MovieLens, --columns ...,timestamp=COL) or a non-sequential model")


def time_order(inter: Interactions) -> np.ndarray:
    """Row order by user, then timestamp, then row (stable on ties)."""
    n = len(inter)
    return np.lexsort((np.arange(n), inter.timestamps, inter.users))


def user_histories(inter: Interactions, max_len: int) -> np.ndarray:
    """``(n_users, max_len)`` int64: each user's latest ``max_len`` items, oldest first, left-padded
    with ``-1`` (a user without rows: all ``-1``). Needs timestamps."""
    if max_len < 1:
        raise ConfigError(f"max_len must be >= 1, got {max_len}")
    out = np.full((inter.n_users, max_len), -1, dtype=np.int64)
    if len(inter) == 0:
        return out
    order = time_order(inter)
    users, items = inter.users[order], inter.items[order]
    counts = np.bincount(users, minlength=inter.n_users)
    ends = np.cumsum(counts)  # one past each user's last row in `order`
    after = ends[users] - 1 - np.arange(len(users))  # rows of the same user after this one (0: latest)
    keep = after < max_len
    out[users[keep], max_len - 1 - after[keep]] = items[keep]
    return out


__all__ = ["require_timestamps", "time_order", "user_histories"]
