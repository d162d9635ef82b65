"""RMSE / MAE / rounded MAE against hand-made values and the slow reference."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import eval_reference as ref
from deeprecs.errors import DataError
from deeprecs.evaluation.ratings import mae, mae_rounded, rating_metrics, rmse, round_to_values

STARS = [1, 2, 3, 4, 5]
HALF_STARS = [x / 2 for x in range(1, 11)]  # 0.5 .. 5.0


def test_rmse_mae_by_hand():
    pred, truth = [3.0, 4.5, 1.0], [4.0, 4.0, 1.0]
    assert rmse(pred, truth) == pytest.approx(math.sqrt((1 + 0.25 + 0) / 3))
    assert mae(pred, truth) == pytest.approx((1 + 0.5 + 0) / 3)


def test_round_to_values_by_hand_ties_go_up():
    pred = [0.2, 1.49, 1.5, 2.5, 3.51, 4.5, 7.0]
    assert round_to_values(pred, STARS).tolist() == [1, 1, 2, 3, 4, 5, 5]
    pred = [0.1, 0.74, 0.75, 2.75, 3.2, 5.3]
    assert round_to_values(pred, HALF_STARS).tolist() == [0.5, 0.5, 1.0, 3.0, 3.0, 5.0]


def test_mae_rounded_by_hand():
    # rounded: 3.4->3, 3.5->4, 0.7->1, 5.9->5 ; truth 4, 4, 2, 5 -> errors 1, 0, 1, 0
    assert mae_rounded([3.4, 3.5, 0.7, 5.9], [4, 4, 2, 5], STARS) == pytest.approx(0.5)
    # half stars: 3.3->3.5, 1.2->1.0, 4.74->4.5 ; truth 3, 1, 5 -> 0.5, 0, 0.5
    assert mae_rounded([3.3, 1.2, 4.74], [3, 1, 5], HALF_STARS) == pytest.approx(1 / 3)


def test_rating_metrics_keys_and_input_types():
    pred, truth = np.array([3.2, 4.9]), torch.tensor([3.0, 5.0])
    assert set(rating_metrics(pred, truth)) == {"rmse", "mae"}
    out = rating_metrics(torch.from_numpy(pred), truth, values=STARS)
    assert set(out) == {"rmse", "mae", "mae_rounded"}
    assert out["mae"] == pytest.approx(0.15) and out["mae_rounded"] == 0.0


def test_refuses_bad_input():
    with pytest.raises(DataError):
        rmse([1.0, 2.0], [1.0])
    with pytest.raises(DataError):
        mae([], [])
    with pytest.raises(DataError):
        rmse([float("nan")], [1.0])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-2, 8, allow_nan=False), min_size=1, max_size=30),
    st.sampled_from([STARS, HALF_STARS]),
)
def test_rounding_matches_reference(pred, values):
    got = round_to_values(pred, values).tolist()
    assert got == [ref.round_to_values(p, values) for p in pred]


def test_against_reference_random():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 50))
        pred = rng.uniform(0, 6, n)
        truth = rng.integers(1, 6, n).astype(float)
        assert rmse(pred, truth) == pytest.approx(math.sqrt(sum((p - t) ** 2 for p, t in zip(pred, truth)) / n))
        assert mae(pred, truth) == pytest.approx(sum(abs(p - t) for p, t in zip(pred, truth)) / n)
        expected = sum(abs(ref.round_to_values(p, STARS) - t) for p, t in zip(pred, truth)) / n
        assert mae_rounded(pred, truth, STARS) == pytest.approx(expected)
