"""Row weights (counts, quantities) as confidence: the transform, duplicates, ALS's per-pair weights, the loop's draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.data.recency import recency_weights
from deeprecs.data.weighting import confidence, row_weights
from deeprecs.errors import DataError
from deeprecs.models.als import pair_weights
from deeprecs.tasks import RankingTask
from deeprecs.training import TrainConfig


def test_log_confidence_counts_doublings():
    w = np.array([1.0, 2.0, 8.0, 0.5, 40.0])
    np.testing.assert_allclose(confidence(w, "log"), [1.0, 2.0, 4.0, 0.5, 1 + np.log2(40)])
    np.testing.assert_allclose(confidence(w, "linear"), w)
    assert confidence(None) is None


def test_weights_must_be_positive():
    maps = dict(user_map=IdMap(np.arange(2)), item_map=IdMap(np.arange(2)))
    with pytest.raises(DataError, match="not positive"):
        Interactions(np.array([0, 1]), np.array([1, 0]), weights=np.array([1.0, 0.0]), **maps)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.floats(0.5, 20), st.integers(0, 9)), min_size=1, max_size=30))
def test_sum_and_mean_merge_each_pairs_weights_and_keep_its_latest_time(rows):
    users, items, weights, times = map(np.array, zip(*rows))
    for policy in ("sum", "mean"):
        inter = Interactions.from_raw(users, items, timestamps=times, weights=weights, duplicates=policy)
        for u, i, w, t in zip(inter.user_map.to_raw(inter.users), inter.item_map.to_raw(inter.items), inter.weights, inter.timestamps):
            mine = (users == u) & (items == i)
            expected = weights[mine].sum() if policy == "sum" else weights[mine].mean()
            assert w == pytest.approx(expected, rel=1e-5) and t == times[mine].max()


def test_als_pair_weights_are_the_confidence_of_summed_weights_times_recency():
    maps = dict(user_map=IdMap(np.arange(2)), item_map=IdMap(np.arange(3)))
    # user 0: item 2 twice (weights 3 and 1, latest at t=9), item 0 (weight 8, t=1); user 1: item 1 (weight 1, t=4)
    inter = Interactions(np.array([0, 0, 0, 1]), np.array([2, 0, 2, 1]), timestamps=np.array([5, 1, 9, 4]),
                         weights=np.array([3.0, 8.0, 1.0, 1.0]), **maps)
    pairs, w = pair_weights(inter, 3, recency=0.0, scale=5.0)
    assert pairs.tolist() == [0, 2, 4] and np.allclose(w, confidence(np.array([8.0, 4.0, 1.0])))
    pairs, w = pair_weights(inter, 3, recency=10.0, scale=5.0)
    boost = recency_weights(np.array([0, 0, 1]), np.array([0, 2, 1]), np.array([1, 9, 4]), 10.0, 5.0)
    np.testing.assert_allclose(w, boost * confidence(np.array([8.0, 4.0, 1.0])))
    plain = inter.replace(weights=None)
    assert pair_weights(plain, 3, recency=0.0, scale=5.0)[1] is None  # no weights, no boost: every pair counts 1


def test_the_loop_draws_positives_in_proportion_to_confidence_times_recency():
    maps = dict(user_map=IdMap(np.arange(2)), item_map=IdMap(np.arange(4)))
    inter = Interactions(np.array([0, 0, 1]), np.array([1, 2, 3]), timestamps=np.array([1, 2, 3]), weights=np.array([4.0, 1.0, 2.0]), **maps)
    task = RankingTask(inter, TrainConfig(loss="bpr", recency=3.0, recency_scale=1.0, confidence="linear"))
    expected = recency_weights(inter.users, inter.items, inter.timestamps, 3.0, 1.0) * np.array([4.0, 1.0, 2.0])
    torch.testing.assert_close(task.weights, torch.from_numpy(expected))
    np.testing.assert_allclose(row_weights(inter, 0.0, 1.0, "log"), [3.0, 1.0, 2.0])
