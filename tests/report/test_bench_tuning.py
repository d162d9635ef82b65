"""benchmarks/common.py: the grid and the validation search peers are tuned with."""

from __future__ import annotations


def test_grid_lists_every_combination_defaults_first(bench):
    common = bench("common")
    points = common.grid(a=[1, 2], b=["x", "y", "z"])
    assert points[0] == {"a": 1, "b": "x"} and len(points) == 6
    assert {(p["a"], p["b"]) for p in points} == {(a, b) for a in (1, 2) for b in "xyz"}


def test_tune_picks_the_best_validation_point_and_keeps_the_earlier_on_ties(bench):
    common = bench("common")
    fitted = []

    def fit(p):
        fitted.append(p["x"])
        return p["x"]

    best = common.tune(fit, common.grid(x=[3, 1, 2, 1]), validate=lambda x: -abs(x - 1))
    assert best["params"] == {"x": 1} and best["fitted"] == 1 and best["valid"] == 0 and best["tried"] == 4
    assert fitted == [3, 1, 2, 1]  # every point fitted once
    low = common.tune(lambda p: p["x"], common.grid(x=[5, 2, 2]), validate=float, higher_is_better=False)
    assert low["params"] == {"x": 2} and low["tuning_seconds"] >= low["fit_seconds"] >= 0
