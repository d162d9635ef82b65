"""Triplet models: what a zeroed (cold) item scores."""

from __future__ import annotations

import torch

from deeprecs.models import build_model


def _with_zero_item(name: str, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, 3, 5, **options).eval()
    with torch.no_grad():
        model.item_emb.weight[2] = 0  # what the pipeline's forget_cold does to an item with no train positive
    return model


def _all_pairs(model) -> torch.Tensor:
    users, items = torch.arange(3).repeat_interleave(5), torch.arange(5).repeat(3)
    return model(users, items).view(3, 5)


def test_cosine_triplet_ranks_a_zeroed_item_last():
    model = _with_zero_item("triplet", factors=4)
    with torch.no_grad():
        scores = _all_pairs(model)
        assert torch.equal(scores[:, 2], torch.full((3,), -1.0))  # the least similar, not 0
        assert (scores[:, [0, 1, 3, 4]] > -1).all()
        u, v = model.retrieval_vectors()
        torch.testing.assert_close(u @ v.T, scores)
        torch.testing.assert_close(model.score_all(torch.arange(3)), scores)


def test_dot_triplet_keeps_a_zeroed_item_at_zero():
    model = _with_zero_item("triplet", factors=4, similarity="dot")
    with torch.no_grad():
        assert torch.equal(_all_pairs(model)[:, 2], torch.zeros(3))


def test_deep_triplet_scores_an_item_without_train_positives_as_the_zero_vector(checkerboard):
    train = checkerboard.ranking.subset(checkerboard.ranking.items != 3)  # item 3: no train positive
    torch.manual_seed(0)
    model = build_model("deep-triplet", train.n_users, train.n_items, user_factors=4, item_factors=4, hidden_size=8)
    model.fit_extra(train)
    users = torch.arange(train.n_users)
    scores = model.score_all(users)
    zero = model.scorer(torch.cat([model.user_emb(users), torch.zeros(len(users), 4)], 1)).squeeze(1)
    torch.testing.assert_close(scores[:, 3], zero)  # as after the pipeline zeroes its row
    items = torch.tensor([[3, 0, 5]]).expand(len(users), 3)
    torch.testing.assert_close(model.score_candidates(users, items), scores[:, [3, 0, 5]])
    torch.testing.assert_close(model(users, items[:, 0]), scores[:, 3])
    model.score_candidates(users, items).sum().backward()
    assert not model.item_emb.weight.grad[3].any() and model.item_emb.weight.grad[0].any()
