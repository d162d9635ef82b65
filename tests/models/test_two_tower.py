"""Two-tower: the training path (each user's tower once per positive and its negatives)."""

from __future__ import annotations

import torch

from deeprecs.models import build_model


def test_score_candidates_equals_forward_on_the_flattened_pairs():
    torch.manual_seed(0)
    model = build_model("two-tower", 4, 9, factors=6, tower=[8, 5])
    users = torch.tensor([0, 3, 3])
    items = torch.tensor([[1, 2, 8], [0, 0, 4], [7, 6, 5]])
    expected = model(users.repeat_interleave(3), items.flatten()).view(3, 3)
    torch.testing.assert_close(model.score_candidates(users, items), expected)
