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


def user_histories(inter: Interactions, max_len: int, times: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``(n_users, max_len)`` int64: each user's latest ``max_len`` items, oldest first, left-padded
    with ``-1`` (a user without rows: all ``-1``); with ``times`` also their timestamps in the same
    layout (padding 0). Needs timestamps."""
    if max_len < 1:
        raise ConfigError(f"max_len must be >= 1, got {max_len}")
    out = np.full((inter.n_users, max_len), -1, dtype=np.int64)
    stamps = np.zeros((inter.n_users, max_len), dtype=np.int64) if times else None
    if len(inter) == 0:
        return (out, stamps) if times else out
    order = time_order(inter)
    users, items = inter.users[order], inter.items[order]
    counts = np.bincount(users, minlength=inter.n_users)
    ends = np.cumsum(counts)  # one past each user's last row in `order`
    after = ends[users] - 1 - np.arange(len(users))  # rows of the same user after this one (0: latest)
    keep = after < max_len
    out[users[keep], max_len - 1 - after[keep]] = items[keep]
    if not times:
        return out
    stamps[users[keep], max_len - 1 - after[keep]] = inter.timestamps[order][keep]
    return out, stamps


def history_windows(inter: Interactions, width: int, every: bool = True, times: bool = False) -> tuple[np.ndarray, ...]:
    """Training rows of a sequential model: ``(rows (R, width) int64, users (R,))``, each row
    ``width`` consecutive items of one user in time order, left-padded with ``-1``. The latest
    row of a user ends at their latest item; with ``every``, a longer history is cut further back
    into rows that overlap by one item (row ``w`` ends ``w * (width - 1)`` items before the
    latest), so that every item but a user's first is the next item after some position of a
    row: none of a long history is left out of training. Rows with fewer than 2 items (nothing
    to predict) are left out. With ``times``: ``(rows, users, stamps)``, ``stamps (R, width)`` each
    item's timestamp in the same layout (padding 0)."""
    if width < 2:
        raise ConfigError(f"a training row needs at least 2 items, got width {width}")
    if len(inter) == 0:
        empty = np.zeros((0, width), dtype=np.int64)
        return (empty, np.zeros(0, dtype=np.int64)) + ((empty.copy(),) if times else ())
    order = time_order(inter)
    users = inter.users[order]
    source = order  # each entry's row in the data, carried through the copies below
    counts = np.bincount(users, minlength=inter.n_users)
    after = np.cumsum(counts)[users] - 1 - np.arange(len(users))  # 0: the user's latest item
    step = width - 1
    window, column = after // step, step - after % step  # the row that ends at or after the item
    # an item that ends a row (after % step == 0) is also the first item of the row behind it
    first = (after % step == 0) & (after > 0)
    window, column = np.concatenate([window, window[first] - 1]), np.concatenate([column, np.zeros(first.sum(), np.int64)])
    users, source = np.concatenate([users, users[first]]), np.concatenate([source, source[first]])
    if not every:
        latest = window == 0
        window, column, users, source = window[latest], column[latest], users[latest], source[latest]
    n_windows = np.where(counts > 0, (counts - 1) // step + 1, 0) if every else (counts > 0).astype(np.int64)
    start = np.cumsum(n_windows) - n_windows  # each user's first row (their latest window)
    rows = np.full((int(n_windows.sum()), width), -1, dtype=np.int64)
    at = start[users] + window, column
    rows[at] = inter.items[source]
    keep = (rows >= 0).sum(1) >= 2
    found = rows[keep], np.repeat(np.arange(inter.n_users), n_windows)[keep]
    if not times:
        return found
    stamped = np.zeros_like(rows)
    stamped[at] = inter.timestamps[source]
    return found + (stamped[keep],)


__all__ = ["history_windows", "require_timestamps", "time_order", "user_histories"]
