"""``deeprecs`` end to end on a tiny MovieLens folder: train, evaluate, recommend, similar, ..."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import torch

from deeprecs.models import MODELS
from deeprecs.runs import load_run


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))


def test_train_writes_a_complete_run(trained_run):
    run, _, result = trained_run
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("rmse", "mae", "mae_rounded", "fit_seconds"):
        assert isinstance(metrics[key], float), key
    assert 0 < metrics["rmse"] < 4 and metrics["epochs"] == 3
    for name in ("config.json", "model.pt", "idmaps.json", "train.npz", "test.npz", "items.csv", "history.json"):
        assert (run / name).is_file(), name
    assert f"saved run to {run}" in result.stdout
    assert not [p for p in run.parent.iterdir() if ".tmp-" in p.name]


def test_evaluate_json_repeats_the_training_rmse(cli, trained_run):
    run, _, _ = trained_run
    out = json.loads(cli.ok("evaluate", run, "--json").stdout)
    assert out["rmse"] == pytest.approx(json.loads((run / "metrics.json").read_text())["rmse"], abs=1e-9)
    assert "rmse" in cli.ok("evaluate", run).stdout


def test_recommend_prints_titles_and_skips_seen_items(cli, trained_run):
    run, folder, _ = trained_run
    lines = cli.ok("recommend", run, "--user", "1", "-k", "5").stdout.splitlines()
    assert lines[0] == "user 1:" and len(lines) == 6
    recommended = [int(line.split()[1]) for line in lines[1:]]
    assert all(f"Movie {i} (1995)" in line for i, line in zip(recommended, lines[1:]))
    r = load_run(run)
    seen = set(r.item_map.raw[r.seen[r.user_index(1)].indices].tolist())
    assert seen and not seen & set(recommended)
    # --json with two users, and --include-seen may return seen items
    out = json.loads(cli.ok("recommend", run, "--user", "1", "--user", "2", "--json").stdout)
    assert [b["user"] for b in out] == ["1", "2"] and len(out[0]["recommendations"]) == 10
    every = json.loads(cli.ok("recommend", run, "--user", "1", "-k", "24", "--include-seen", "--json").stdout)
    assert seen <= {rec["item"] for rec in every["recommendations"]}


def test_similar_items(cli, trained_run):
    run, _, _ = trained_run
    out = json.loads(cli.ok("similar", run, "--item", "3", "-k", "4", "--json").stdout)
    assert out["title"] == "Movie 3 (1995)" and len(out["similar"]) == 4
    sims = [s["similarity"] for s in out["similar"]]
    assert 3 not in [s["item"] for s in out["similar"]] and sims == sorted(sims, reverse=True)
    assert cli.ok("similar", run, "--item", "3").stdout.startswith("items like 3 Movie 3 (1995):")


def test_embeddings_writes_parquet_and_describes(cli, trained_run, tmp_path):
    run, _, _ = trained_run
    out = tmp_path / "x.parquet"
    text = cli.ok("embeddings", run, "--out", out).stdout
    frame = pd.read_parquet(out)
    r = load_run(run)
    assert len(frame) == r.item_map.raw.size and list(frame.columns[:2]) == ["id", "title"]
    np.testing.assert_allclose(frame.filter(like="dim_").to_numpy(), r.model.item_embeddings().detach().numpy(), rtol=1e-6)
    assert "mean" in text and "std" in text and "dim_0" in text and f"wrote {len(frame)} items" in text


def test_models_lists_name_tasks_summary(cli):
    lines = cli.ok("models").stdout.strip().splitlines()
    rows = [line.split("\t") for line in lines]
    assert all(len(row) == 3 and row[2] for row in rows)
    assert [row[0] for row in rows] == list(MODELS)
    assert dict((row[0], row[1]) for row in rows)["bpr-mf"] == "ranking"
    assert dict((row[0], row[1]) for row in rows)["gmf"] == "ranking"
    assert "--factors" in cli.ok("models", "biased-mf").stdout


def test_ranking_task_metrics(cli, tmp_path, write_ml):
    folder = write_ml(tmp_path / "ml")
    cli.ok("-q", "train", "mf", "--data", folder, "--out", tmp_path / "rank", "--positive", "4",
           "--epochs", "2", "--factors", "4", *cli.fast)
    metrics = json.loads((tmp_path / "rank" / "metrics.json").read_text())
    for key in ("auc", "precision@10", "recall@10", "map@10", "ndcg@10", "hr@10", "mrr"):
        assert 0 <= metrics[key] <= 1, key
    assert json.loads((tmp_path / "rank" / "config.json").read_text())["task"] == "ranking"


def test_train_json_stdout_is_only_the_metrics(cli, tmp_path, write_ml):
    """Epoch lines and progress go to stderr, so `train --json | jq` works."""
    folder = write_ml(tmp_path / "ml")
    result = cli.ok("train", "mf", "--data", folder, "--out", tmp_path / "r", "--epochs", "2", "--factors", "4", "--json", *cli.fast)
    metrics = json.loads(result.stdout)
    assert metrics["epochs"] == 2 and "rmse" in metrics
    assert "epoch   1" in result.stderr


def test_leave_one_out_metrics(cli, tmp_path, write_ml):
    folder = write_ml(tmp_path / "ml", n_users=30, n_items=120, per_user=5)  # 99 negatives need room
    cli.ok("-q", "train", "mf", "--data", folder, "--out", tmp_path / "loo", "--split", "loo",
           "--epochs", "2", "--factors", "4", *cli.fast)
    metrics = json.loads((tmp_path / "loo" / "metrics.json").read_text())
    for key in ("hr@10", "ndcg@10", "full_hr@10", "full_ndcg@10"):
        assert 0 <= metrics[key] <= 1, key
    assert metrics["ndcg@10"] <= metrics["hr@10"]


@pytest.mark.parametrize("name", list(MODELS))
def test_train_help_lists_every_option_of_the_models_config_with_its_help(cli, name):
    from deeprecs.training import TrainConfig

    text = cli.ok("train", name, "--help").stdout
    fields = [f for f in (*MODELS[name].Config.model_fields, *TrainConfig.model_fields)
              if f not in ("n_users", "n_items", "n_user_features", "n_item_features", "task", "seed", "progress", "loss")]
    for field in fields:
        assert f"--{field.replace('_', '-')}" in text, field
    from deeprecs.cli.train_cmd import model_options

    assert all(o.help and not o.help.startswith("[default") for o in model_options(name)), "an option without a description"


def test_options_are_typed_by_the_config(cli, tmp_path, write_ml):
    """Values are converted by the config's own types (no guessing): a list, a bool, a choice."""
    folder = write_ml(tmp_path / "ml")
    cli.ok("-q", "train", "mlp", "--data", folder, "--out", tmp_path / "m", "--task", "ranking", "--layers", "8,4",
           "--user-factors", "4", "--item-factors", "4", "--biases", "false", "--init", "random", "--epochs", "1", *cli.fast)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["model_config"]["layers"] == [8, 4] and config["model_config"]["biases"] is False
    assert config["train"]["epochs"] == 1 and config["device"] == "cpu"
    cli.error("train", "mlp", "--data", folder, "--out", tmp_path / "x", "--init", "svd", contains=("--init", "'svd'"))
    cli.error("train", "mlp", "--data", folder, "--out", tmp_path / "x", "--layers", "8,a", contains=("--layers", "layers"))
    cli.error("train", "mlp", "--data", folder, "--out", tmp_path / "x", "--optimizer", "lbfgs", contains=("--optimizer",))
    assert not (tmp_path / "x").exists()


def test_every_scoring_command_takes_a_device_and_a_missing_one_is_one_line(cli, trained_run, tmp_path, write_ml):
    run, folder, _ = trained_run
    for command in (("evaluate", run), ("recommend", run, "--user", "1"), ("similar", run, "--item", "1"),
                    ("export", run, "--db", f"sqlite:///{tmp_path / 'r.db'}")):
        cli.ok(*command, "--device", "cpu")
        if not torch.cuda.is_available():
            cli.error(*command, "--device", "cuda", contains=("CUDA is not available", "--device cpu"))
        cli.error(*command, "--device", "tpu", contains=("not a device",))
    if not torch.cuda.is_available():
        cli.error("train", "mf", "--data", folder, "--out", tmp_path / "cuda", "--device", "cuda", contains=("CUDA is not available",))
        cli.error("serve", run, "--device", "cuda:3", contains=("CUDA is not available",))
        assert not (tmp_path / "cuda").exists()
