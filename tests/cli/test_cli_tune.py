"""``deeprecs tune``: a search on the validation part only, the best trained as a run that ``train`` reproduces."""

from __future__ import annotations

import json
import shlex

import pytest

import deeprecs.pipeline.scoring as scoring
from deeprecs.pipeline import TrainSpec
from deeprecs.tuning import search_space, tune

FAST = ("--threads", "1")


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))


def test_the_search_space_comes_from_the_configs_less_what_is_fixed():
    als = search_space(TrainSpec(model="als", data="-", model_options={"alpha": 4.0}), "ranking")
    assert set(als["model"]) == {"factors", "l2", "dislike_weight"} and als["train"] == {}  # closed form: no learning rate
    bpr = search_space(TrainSpec(model="bpr-mf", data="-", train_options={"lr": 0.01}), "ranking")
    assert set(bpr["model"]) == {"factors", "l2"} and set(bpr["train"]) == {"n_negatives"}
    assert set(search_space(TrainSpec(model="triplet", data="-"), "ranking")["train"]) == {"lr", "n_negatives", "margin"}
    assert set(search_space(TrainSpec(model="mf", data="-"), "rating")["train"]) == {"lr"}


def test_tuning_never_looks_at_the_test_part(tmp_path, write_ml, monkeypatch):
    folder = write_ml(tmp_path / "ml")
    calls = []
    real = scoring.evaluate
    monkeypatch.setattr(scoring, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    result = tune(TrainSpec(model="ease", data=str(folder), positive=4, train_options={"threads": 1}), trials=3, progress=False)
    assert calls == [] and len(result.trials) == 3 and result.metric == "valid_auc"
    assert result.spec.model_options["l2"] == result.best["model_options"]["l2"]


def test_tune_saves_the_best_as_a_run_that_train_reproduces(cli, tmp_path, write_ml):
    folder = write_ml(tmp_path / "ml")
    out = cli.ok("tune", "als", "--data", folder, "--positive", "4", "--trials", "4", "--out", tmp_path / "tuned", "--iterations", "3", *FAST)
    tuning = json.loads((tmp_path / "tuned" / "tuning.json").read_text())
    assert len(tuning["trials"]) == 4 and tuning["direction"] == "maximize"
    assert tuning["best"]["value"] == max(t["value"] for t in tuning["trials"])
    assert all("iterations" not in t["model_options"] for t in tuning["trials"])  # given: fixed, not searched
    command = next(line for line in out.stderr.splitlines() if line.startswith("train it again: ")).removeprefix("train it again: ")
    assert command == tuning["command"]
    args = shlex.split(command)[2:]  # drop "deeprecs train"
    cli.ok("-q", "train", *args, "--out", tmp_path / "again")
    tuned = json.loads((tmp_path / "tuned" / "metrics.json").read_text())
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["auc"] == tuned["auc"] and again["ndcg@10"] == tuned["ndcg@10"]
    page = tmp_path / "r.html"
    cli.ok("report", tmp_path / "tuned", "--out", page)
    assert "the trials of tuned" in page.read_text()


def test_a_model_with_nothing_to_search_is_one_line(cli, tmp_path, write_ml):
    folder = write_ml(tmp_path / "ml")
    cli.error("tune", "popularity", "--data", folder, "--positive", "4", "--out", tmp_path / "p", contains=("no options to search",))
    assert not (tmp_path / "p").exists()
