"""Two-tower: the training path (each user's tower once per positive and its negatives)."""

from __future__ import annotations

import torch

from deeprecs.batch import Batch
from deeprecs.models.base import FitData
from deeprecs.models import build_model


def test_score_candidates_equals_forward_on_the_flattened_pairs():
    torch.manual_seed(0)
    model = build_model("two-tower", 4, 9, factors=6, tower=[8, 5])
    users = torch.tensor([0, 3, 3])
    items = torch.tensor([[1, 2, 8], [0, 0, 4], [7, 6, 5]])
    expected = model(Batch(users.repeat_interleave(3), items.flatten())).view(3, 3)
    torch.testing.assert_close(model.score_candidates(Batch(users, items)), expected)


def test_an_item_without_train_positives_is_the_zero_vector(checkerboard):
    train = checkerboard.ranking.subset(checkerboard.ranking.items != 3)  # item 3: no train positive
    torch.manual_seed(0)
    model = build_model("two-tower", train.n_users, train.n_items, factors=4, tower=[8, 5])
    model.fit_data(FitData(train))
    u, v = model.retrieval_vectors()
    torch.testing.assert_close(v[3], model.item_tower(torch.zeros(4)))  # as after the pipeline zeroes its row
    users = torch.arange(train.n_users)
    items = torch.tensor([[3, 0]]).expand(len(users), 2)
    scores = model.score_candidates(Batch(users, items))
    torch.testing.assert_close(scores, (u @ v.T)[:, [3, 0]])
    torch.testing.assert_close(model(Batch(users, items[:, 0])), scores[:, 0])
    scores.sum().backward()
    assert not model.item_emb.weight.grad[3].any() and model.item_emb.weight.grad[0].any()
