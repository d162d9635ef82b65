"""EASE's closed form against a direct numpy solve of the constrained ridge problem."""

import numpy as np
import torch

from deeprecs.batch import Batch
from deeprecs.models.base import FitData
from deeprecs.data.interactions import Interactions
from deeprecs.models import build_model


def test_ease_weights_solve_the_constrained_ridge_problem():
    rng = np.random.default_rng(0)
    x = (rng.random((12, 7)) < 0.4).astype(np.float64)
    x[np.arange(12), np.arange(12) % 7] = 1.0  # every user and item occurs
    users, items = np.nonzero(x)
    train = Interactions.from_raw(users, items)
    model = build_model("ease", train.n_users, train.n_items, l2=2.0)
    model.fit_data(FitData(train))
    b = model.weights.detach().double().numpy()
    assert np.allclose(np.diag(b), 0)
    # Each column j solves min ||x_j - X_{-j} b_j||^2 + l2 ||b_j||^2 over the other items.
    for j in range(7):
        others = [k for k in range(7) if k != j]
        a = x[:, others]
        expected = np.linalg.solve(a.T @ a + 2.0 * np.eye(6), a.T @ x[:, j])
        assert np.allclose(b[others, j], expected, atol=1e-5)
    scores = model.score_all(Batch(torch.arange(12))).double().numpy()
    assert np.allclose(scores, x @ b, atol=1e-5)
