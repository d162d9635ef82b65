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


def test_ncf_figure_and_markdown_from_results(bench, tmp_path, monkeypatch):
    ncf = bench("ncf")
    row = {"hr@10": 0.72, "ndcg@10": 0.44, "full_hr@10": 0.09, "full_ndcg@10": 0.045, "fit_seconds": 12.0, "fit_seconds_own": 12.0,
           "eval_seconds": 0.1, "examples_per_s": None, "threads": 1, "epochs": 0, "best_epoch": -1, "time_to_als_hr": None,
           "quirks": {}}
    results = {"threads": 1, "machine": "x86_64", "datasets": {"ml-100k": {
        "als": row, "popularity": {**row, "hr@10": 0.31, "full_hr@10": 0.05}, "implicit-als": {**row, "hr@10": 0.70}}}}
    monkeypatch.setattr(ncf, "RESULTS", tmp_path)
    ncf.write_outputs(results, "ncf-test")
    assert (tmp_path / "ncf-test.png").read_bytes()[:4] == b"\x89PNG"
    md = (tmp_path / "ncf-test.md").read_text()
    assert "![quality against time, and sampled against full ranking](ncf-test.png)" in md and "| als | 0.7200 |" in md
