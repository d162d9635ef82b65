"""RP3beta's walk weights against a slow, obvious computation of the same probabilities; its
validation grid (neighbours, popularity penalty)."""

import itertools

import numpy as np
import pytest
import torch

import deeprecs.pipeline as pipeline
from deeprecs.batch import Batch
from deeprecs.models.base import FitData
from deeprecs.data.interactions import Interactions
from deeprecs.models import build_model
from deeprecs.models.rp3beta import RP3beta
from deeprecs.pipeline import TrainSpec, train


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 0.0), (1.0, 0.6), (0.5, 0.3)])
def test_rp3beta_weights_are_the_penalised_three_step_walk(alpha, beta):
    rng = np.random.default_rng(1)
    x = (rng.random((10, 6)) < 0.4).astype(np.float64)
    x[np.arange(10), np.arange(10) % 6] = 1.0  # every user and item occurs
    users, items = np.nonzero(x)
    train = Interactions.from_raw(users, items)
    model = build_model("rp3beta", train.n_users, train.n_items, alpha=alpha, beta=beta)
    model.fit_data(FitData(train))
    w = model.weights.detach().double().numpy()
    expected = np.zeros((6, 6))
    for i in range(6):
        for j in range(6):
            if i == j:
                continue
            walk = sum((1 / x[:, i].sum()) ** alpha * (1 / x[u].sum()) ** alpha for u in range(10) if x[u, i] and x[u, j])
            expected[i, j] = walk / x[:, j].sum() ** beta
    assert np.allclose(w, expected, atol=1e-6)
    scores = model.score_all(Batch(torch.arange(10))).double().numpy()
    assert np.allclose(scores, x @ expected, atol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_rp3beta_neighbors_keep_each_items_k_largest_walk_weights(k):
    rng = np.random.default_rng(2)
    x = (rng.random((12, 7)) < 0.5).astype(np.float64)
    x[np.arange(12), np.arange(12) % 7] = 1.0
    users, items = np.nonzero(x)
    train = Interactions.from_raw(users, items)
    full = build_model("rp3beta", train.n_users, train.n_items)
    full.fit_data(FitData(train))
    pruned = build_model("rp3beta", train.n_users, train.n_items, neighbors=k)
    pruned.fit_data(FitData(train))
    w, p = full.weights.detach().numpy(), pruned.weights.detach().numpy()
    for i in range(7):  # slow: k entries of row i kept as they are, none dropped above them, the rest zero
        kept = [j for j in range(7) if p[i, j] != 0]
        assert all(p[i, j] == w[i, j] for j in kept)
        assert sorted(p[i], reverse=True)[:k] == sorted(w[i], reverse=True)[:k]  # the k largest values (ties: any of them)
        assert all(w[i, j] <= min(p[i, kept], default=np.inf) for j in range(7) if j not in kept)
    assert (np.count_nonzero(p, axis=1) <= k).all()


def test_rp3beta_neighbors_0_or_the_catalogue_keep_every_weight():
    from deeprecs.models.rp3beta import keep_largest

    w = np.arange(12.0).reshape(3, 4)
    for k in (0, 4, 9):
        v = w.copy()
        keep_largest(v, k)
        assert np.array_equal(v, w)
    keep_largest(v, 2)
    assert np.array_equal(v, [[0, 0, 2, 3], [0, 0, 6, 7], [0, 0, 10, 11]])


def test_rp3beta_takes_the_neighbors_and_beta_that_validation_scores_best(tmp_path, monkeypatch, write_ml):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))
    data = str(write_ml(tmp_path / "ml", n_users=40, n_items=150, per_user=12))
    spec = TrainSpec(model="rp3beta", data=data, split="loo", refit=False, train_options={"threads": 1})
    model, _, _, split, _ = train(spec, progress=False)
    validate, _, _ = pipeline.validator("ranking", split.train, split.valid, split.valid_negatives, None, split.dislikes)
    grid = RP3beta.grid
    assert set(grid) == {"neighbors", "beta"}
    scores = {}
    for values in itertools.product(*grid.values()):
        candidate = build_model("rp3beta", split.train.n_users, split.train.n_items, **dict(zip(grid, values)))
        candidate.fit_data(FitData(split.train))
        scores[values] = float(validate(candidate))
    assert len(set(scores.values())) > 1  # the grid matters on this data
    chosen = tuple(getattr(model.config, k) for k in grid)
    assert scores[chosen] == max(scores.values())
    assert chosen == next(v for v, s in scores.items() if s == max(scores.values()))  # ties: the earliest
    given = train(TrainSpec(model="rp3beta", data=data, split="loo", refit=False, model_options={"beta": 0.7},
                            train_options={"threads": 1}), progress=False)[0]
    assert given.config.beta == 0.7  # an option given is never searched
