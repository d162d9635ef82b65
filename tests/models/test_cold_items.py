"""Items with no training data: predicted from what is known for ratings, ranked last for ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deeprecs.batch import Batch
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.models import build_model
from deeprecs.pipeline import forget_cold


def _train_without_item(cold: int = 3, n_users: int = 5, n_items: int = 6) -> Interactions:
    users, items = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    keep = items.ravel() != cold
    return Interactions(users=users.ravel()[keep], items=items.ravel()[keep],
                        user_map=IdMap(np.arange(n_users)), item_map=IdMap(np.arange(n_items)))


def _random(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, 5, 6, factors=4)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(std=3.0)
    return model


@pytest.mark.parametrize("name", ["biased-mf", "bpr-mf"])
def test_ranking_puts_an_item_without_positives_below_every_other_for_every_user(name):
    model = _random(name)
    forget_cold(model, _train_without_item(cold=3), task="ranking")
    with torch.no_grad():
        scores = model.score_all(Batch(torch.arange(5)))
    assert torch.all(scores[:, 3] < torch.cat([scores[:, :3], scores[:, 4:]], 1).min(1).values)
    assert torch.all(model.item_emb.weight[3] == 0)


def test_rating_keeps_the_cold_item_at_the_known_part_of_the_prediction():
    model = _random("biased-mf")
    forget_cold(model, _train_without_item(cold=3), task="rating")
    assert model.item_bias.weight[3].item() == 0 and torch.all(model.item_emb.weight[3] == 0)
    with torch.no_grad():  # global offset + the user's bias, nothing about the item
        expected = model.rating_offset + model.user_bias.weight[:, 0]
        torch.testing.assert_close(model(Batch(torch.arange(5), torch.full((5,), 3))), expected)
