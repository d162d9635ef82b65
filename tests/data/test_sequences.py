"""Per-user histories in time order: exact values by hand, and a slow obvious version (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.data.sequences import history_windows, require_timestamps, user_histories
from deeprecs.errors import ConfigError


def inter(users, items, timestamps, n_users=None, n_items=None) -> Interactions:
    n_users = n_users or max(users, default=0) + 1
    n_items = n_items or max(items, default=0) + 1
    return Interactions(np.array(users, dtype=np.int64), np.array(items, dtype=np.int64), IdMap(np.arange(n_users), kind="user"),
                        IdMap(np.arange(n_items), kind="item"), timestamps=None if timestamps is None else np.array(timestamps))


def test_time_order_stable_ties_truncation_and_padding_by_hand():
    # user 0: items 5 (t=3), 2 (t=1), 7 (t=3, after 5 in the data), 1 (t=0); user 1: 4 (t=9); user 2: nothing
    data = inter([0, 0, 1, 0, 0], [5, 2, 4, 7, 1], [3, 1, 9, 3, 0], n_users=3, n_items=8)
    np.testing.assert_array_equal(user_histories(data, 5), [[-1, 1, 2, 5, 7], [-1, -1, -1, -1, 4], [-1] * 5])
    np.testing.assert_array_equal(user_histories(data, 2), [[5, 7], [-1, 4], [-1, -1]])  # the latest kept
    swapped = inter([0, 0, 1, 0, 0], [7, 2, 4, 5, 1], [3, 1, 9, 3, 0], n_users=3, n_items=8)
    assert user_histories(swapped, 5)[0].tolist() == [-1, 1, 2, 7, 5]  # ties keep the data's order, not the item's
    items, times = user_histories(data, 5, times=True)  # each item's timestamp beside it, padding 0
    np.testing.assert_array_equal(items, user_histories(data, 5))
    np.testing.assert_array_equal(times, [[0, 0, 1, 3, 3], [0, 0, 0, 0, 9], [0] * 5])


def slow_histories(users, items, ts, n_users, max_len, of=None):
    """Each user's latest items (``of``: another column of the rows, padded with 0 instead)."""
    out = []
    for u in range(n_users):
        rows = sorted((t, j) for j, (uu, t) in enumerate(zip(users, ts)) if uu == u)  # (timestamp, row): stable
        seq = [(items if of is None else of)[j] for _, j in rows][-max_len:]
        out.append([-1 if of is None else 0] * (max_len - len(seq)) + seq)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(0, 4)), max_size=30), st.integers(1, 6))
def test_histories_match_the_slow_version(rows, max_len):
    users, items, ts = ([r[k] for r in rows] for k in range(3))
    data = inter(users, items, ts, n_users=4, n_items=6)
    assert user_histories(data, max_len).tolist() == slow_histories(users, items, ts, 4, max_len)
    assert user_histories(data, max_len, times=True)[1].tolist() == slow_histories(users, items, ts, 4, max_len, of=ts)


def test_history_windows_by_hand():
    # user 0: 1 2 3 4 5 6 (in time order); user 1: 9; user 2: 7 8
    data = inter([0, 0, 0, 1, 0, 2, 0, 0, 2], [1, 2, 3, 9, 4, 7, 5, 6, 8], [0, 1, 2, 0, 3, 0, 4, 5, 1], n_users=3, n_items=10)
    rows, users = history_windows(data, 3)  # rows of 3 overlapping by one: 4-5-6, 2-3-4, 1-2; user 1 has nothing to predict
    assert rows.tolist() == [[4, 5, 6], [2, 3, 4], [-1, 1, 2], [-1, 7, 8]] and users.tolist() == [0, 0, 0, 2]
    rows, users = history_windows(data, 3, every=False)  # the latest rows only
    assert rows.tolist() == [[4, 5, 6], [-1, 7, 8]] and users.tolist() == [0, 2]
    rows, users, times = history_windows(data, 3, times=True)  # each item's timestamp in the same layout, padding 0
    assert rows.tolist() == [[4, 5, 6], [2, 3, 4], [-1, 1, 2], [-1, 7, 8]] and users.tolist() == [0, 0, 0, 2]
    assert times.tolist() == [[3, 4, 5], [1, 2, 3], [0, 0, 1], [0, 0, 1]]
    assert [a.tolist() for a in history_windows(data, 3, every=False, times=True)] == [[[4, 5, 6], [-1, 7, 8]], [0, 2], [[3, 4, 5], [0, 0, 1]]]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(0, 4)), max_size=30), st.integers(2, 6))
def test_history_windows_cover_every_item_once_as_a_target(rows, width):
    users, items, ts = ([r[k] for r in rows] for k in range(3))
    data = inter(users, items, ts, n_users=4, n_items=6)
    windows, owners = history_windows(data, width)
    latest, latest_owners = history_windows(data, width, every=False)
    stamped, stamp_owners, stamps = history_windows(data, width, times=True)
    assert np.array_equal(stamped, windows) and np.array_equal(stamp_owners, owners)
    assert (stamps[windows < 0] == 0).all()
    full_times = slow_histories(users, items, ts, 4, 40, of=ts)
    full = slow_histories(users, items, ts, 4, 40)
    for u in range(4):
        seq = [i for i in full[u] if i >= 0]
        mine = windows[owners == u][::-1]  # oldest row first
        rebuilt = [i for i in mine[0] if i >= 0] + [i for r in mine[1:] for i in r[r >= 0][1:]] if len(mine) else []
        assert rebuilt == (seq if len(seq) >= 2 else [])  # the rows, overlapping by one, are the history
        when = stamps[stamp_owners == u][::-1]  # each item's timestamp sits where the item does
        rebuilt_times = ([t for t, i in zip(when[0], mine[0]) if i >= 0] + [t for r, w in zip(mine[1:], when[1:]) for t in w[r >= 0][1:]]
                         if len(mine) else [])
        assert rebuilt_times == (full_times[u][-len(seq):] if len(seq) >= 2 else [])
        assert all((r >= 0).sum() >= 2 for r in mine)
        assert latest[latest_owners == u].tolist() == ([slow_histories(users, items, ts, 4, width)[u]] if len(seq) >= 2 else [])


def test_data_without_timestamps_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="sasrec reads each user's items in time order, and this data has no timestamps"):
        require_timestamps(inter([0], [0], None), "sasrec")
    with pytest.raises(ConfigError, match="max_len"):
        user_histories(inter([0], [0], [1]), 0)
