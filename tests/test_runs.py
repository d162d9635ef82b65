"""Run directories: atomic writes, no pickle, clear errors."""

from __future__ import annotations

import json

import pytest
import torch

from deeprecs.errors import DeeprecsError
from deeprecs.models import build_model
from deeprecs.runs import FORMAT_VERSION, load_run, save_run


def model_for(data, factors=4):
    return build_model("biased-mf", data.n_users, data.n_items, factors=factors)


def test_overwrite_replaces_the_run_and_leaves_no_temporary_folders(tmp_path, checkerboard):
    data = checkerboard.rating
    save_run(tmp_path / "run", model_for(data, 4), {"model": "biased-mf"}, data, metrics={"rmse": 1.0})
    save_run(tmp_path / "run", model_for(data, 6), {"model": "biased-mf"}, data, metrics={"rmse": 0.5})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    run = load_run(tmp_path / "run")
    assert run.model.config.factors == 6 and run.metrics == {"rmse": 0.5}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["format_version"] == FORMAT_VERSION == 2


def test_a_failing_write_keeps_the_old_run(tmp_path, checkerboard):
    data = checkerboard.rating
    save_run(tmp_path / "run", model_for(data), {"model": "biased-mf"}, data, metrics={"rmse": 1.0})

    def broken(path):
        raise OSError("disk full")

    with pytest.raises(OSError):
        save_run(tmp_path / "run", model_for(data), {"model": "biased-mf"}, data, figures={"loss.png": broken})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert load_run(tmp_path / "run").metrics == {"rmse": 1.0}


def test_not_a_run_directory(tmp_path):
    with pytest.raises(DeeprecsError, match="not a deeprecs run directory"):
        load_run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DeeprecsError, match="not a deeprecs run directory"):
        load_run(tmp_path / "empty")


def test_a_pickled_object_in_model_pt_is_refused(tmp_path, checkerboard):
    data = checkerboard.rating
    model = model_for(data)
    save_run(tmp_path / "run", model, {"model": "biased-mf"}, data)
    torch.save({"weights": model.state_dict(), "evil": object()}, tmp_path / "run" / "model.pt")
    (tmp_path / "run" / "checksums.json").unlink()  # else the digest refuses it before torch reads it
    with pytest.raises(Exception, match="(?i)weights_only|weights only|unsupported|global"):
        load_run(tmp_path / "run")


def test_a_format_1_als_run_loads_with_its_recency_among_the_training_options(tmp_path, checkerboard):
    """Format 1 kept ALS's recency in the model's options; it is a training option now (one
    ``--recency``): an old run still loads, and scores as it did."""
    data = checkerboard.ranking
    model = build_model("als", data.n_users, data.n_items, factors=4)
    save_run(tmp_path / "run", model, {"model": "als", "train": {"epochs": 40}}, data)
    file = tmp_path / "run" / "config.json"
    config = json.loads(file.read_text())
    config["format_version"] = 1
    config["model_config"].update(recency=50.0, recency_scale=5.0)
    file.write_text(json.dumps(config))
    run = load_run(tmp_path / "run")
    assert "recency" not in run.config["model_config"] and run.config["train"] == {"epochs": 40, "recency": 50.0, "recency_scale": 5.0}
    assert torch.equal(run.model.item_factors, model.item_factors)
