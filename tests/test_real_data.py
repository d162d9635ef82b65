"""Biased MF on the real MovieLens 100K, fetched by the toolkit (slow: run with ``-m slow``)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def ml100k_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("deeprecs-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPRECS_HOME", str(home))
        from deeprecs.data import load_dataset

        try:
            ds = load_dataset("ml-100k")
        except Exception as exc:  # no network: nothing to test against
            pytest.skip(f"MovieLens 100K unavailable: {exc}")
        yield home, ds


def test_biased_mf_beats_the_global_mean(ml100k_home, monkeypatch):
    from deeprecs.pipeline import TrainSpec, train

    home, ds = ml100k_home
    assert len(ds.interactions) == 100_000 and ds.interactions.n_users == 943 and ds.interactions.n_items == 1682
    monkeypatch.setenv("DEEPRECS_HOME", str(home))
    spec = TrainSpec(model="biased-mf", data="ml-100k", split="random:0.2", seed=0, model_options={"factors": 32},
                     train_options={"epochs": 8, "threads": 1, "batch_size": 1024, "lr": 0.005})
    _, metrics, history, split, _ = train(spec, progress=False)
    baseline = float(np.sqrt(np.mean((split.test.ratings - split.train.ratings.mean()) ** 2)))
    assert baseline == pytest.approx(1.12, abs=0.03)  # the global mean's test RMSE on ML-100K
    assert metrics["rmse"] < baseline - 0.15, (metrics["rmse"], baseline, history.epochs)
    assert metrics["mae_rounded"] >= 0 and metrics["n_test"] == len(split.test)
