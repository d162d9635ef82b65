"""RP3beta's walk weights against a slow, obvious computation of the same probabilities."""

import numpy as np
import pytest
import torch

from deeprecs.data.interactions import Interactions
from deeprecs.models import build_model


@pytest.mark.parametrize(("alpha", "beta"), [(1.0, 0.0), (1.0, 0.6), (0.5, 0.3)])
def test_rp3beta_weights_are_the_penalised_three_step_walk(alpha, beta):
    rng = np.random.default_rng(1)
    x = (rng.random((10, 6)) < 0.4).astype(np.float64)
    x[np.arange(10), np.arange(10) % 6] = 1.0  # every user and item occurs
    users, items = np.nonzero(x)
    train = Interactions.from_raw(users, items)
    model = build_model("rp3beta", train.n_users, train.n_items, alpha=alpha, beta=beta)
    model.fit_extra(train)
    w = model.weights.detach().double().numpy()
    expected = np.zeros((6, 6))
    for i in range(6):
        for j in range(6):
            if i == j:
                continue
            walk = sum((1 / x[:, i].sum()) ** alpha * (1 / x[u].sum()) ** alpha for u in range(10) if x[u, i] and x[u, j])
            expected[i, j] = walk / x[:, j].sum() ** beta
    assert np.allclose(w, expected, atol=1e-6)
    scores = model.score_all(torch.arange(10)).double().numpy()
    assert np.allclose(scores, x @ expected, atol=1e-5)
