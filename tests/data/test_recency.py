"""Recency weights: the rank of each row from its user's end, against a slow obvious version."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprecs.data.recency import recency_weights, rows_after


def slow_rows_after(users, items, timestamps) -> list[int]:
    """Row j: how many rows of its user are later by (timestamp, item, row index)."""
    key = [(t, i, j) for j, (t, i) in enumerate(zip(timestamps, items))]
    return [sum(1 for k in range(len(users)) if users[k] == users[j] and key[k] > key[j]) for j in range(len(users))]


rows = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6), st.integers(0, 3)), max_size=40)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_rows_after_matches_the_slow_count(data):
    users = np.array([u for u, _, _ in data], dtype=np.int64)
    items = np.array([i for _, i, _ in data], dtype=np.int64)
    ts = np.array([t for _, _, t in data], dtype=np.int64)
    assert rows_after(users, items, ts).tolist() == slow_rows_after(users, items, ts)


def test_weights_by_hand():
    # user 0: t=3 (latest), t=1, t=2 ; user 1: two rows at t=5, the larger item later
    users, items, ts = np.array([0, 0, 0, 1, 1]), np.array([4, 2, 0, 7, 3]), np.array([3, 1, 2, 5, 5])
    w = recency_weights(users, items, ts, recency=10.0, scale=2.0)
    np.testing.assert_allclose(w, 1 + 10 * np.exp(-np.array([0, 2, 1, 0, 1]) / 2.0))
    assert recency_weights(users, items, ts, recency=0.0, scale=2.0) is None
    assert recency_weights(users, items, None, recency=10.0, scale=2.0) is None  # untimed data: a no-op
