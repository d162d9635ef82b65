"""Triplet models: what a zeroed (cold) item scores; the deep triplet started from a triplet run."""

from __future__ import annotations

import pytest
import torch

from deeprecs.batch import Batch
from deeprecs.models.base import FitData
from deeprecs.models import build_model


def _with_zero_item(name: str, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(name, 3, 5, **options).eval()
    with torch.no_grad():
        model.item_emb.weight[2] = 0  # what the pipeline's forget_cold does to an item with no train positive
    return model


def _all_pairs(model) -> torch.Tensor:
    users, items = torch.arange(3).repeat_interleave(5), torch.arange(5).repeat(3)
    return model(Batch(users, items)).view(3, 5)


def test_cosine_triplet_ranks_a_zeroed_item_last():
    model = _with_zero_item("triplet", factors=4)
    with torch.no_grad():
        scores = _all_pairs(model)
        assert torch.equal(scores[:, 2], torch.full((3,), -1.0))  # the least similar, not 0
        assert (scores[:, [0, 1, 3, 4]] > -1).all()
        u, v = model.retrieval_vectors()
        torch.testing.assert_close(u @ v.T, scores)
        torch.testing.assert_close(model.score_all(Batch(torch.arange(3))), scores)


def test_dot_triplet_keeps_a_zeroed_item_at_zero():
    model = _with_zero_item("triplet", factors=4, similarity="dot")
    with torch.no_grad():
        assert torch.equal(_all_pairs(model)[:, 2], torch.zeros(3))


def test_deep_triplet_scores_an_item_without_train_positives_as_the_zero_vector(checkerboard):
    train = checkerboard.ranking.subset(checkerboard.ranking.items != 3)  # item 3: no train positive
    torch.manual_seed(0)
    model = build_model("deep-triplet", train.n_users, train.n_items, user_factors=4, item_factors=4, hidden_size=8)
    model.fit_data(FitData(train))
    users = torch.arange(train.n_users)
    scores = model.score_all(Batch(users))
    zero = model.scorer(torch.cat([model.user_emb(users), torch.zeros(len(users), 4)], 1)).squeeze(1)
    torch.testing.assert_close(scores[:, 3], zero)  # as after the pipeline zeroes its row
    items = torch.tensor([[3, 0, 5]]).expand(len(users), 3)
    torch.testing.assert_close(model.score_candidates(Batch(users, items)), scores[:, [3, 0, 5]])
    torch.testing.assert_close(model(Batch(users, items[:, 0])), scores[:, 3])
    model.score_candidates(Batch(users, items)).sum().backward()
    assert not model.item_emb.weight.grad[3].any() and model.item_emb.weight.grad[0].any()


def test_deep_triplet_starts_from_the_triplet_runs_unit_vectors():
    from torch.nn import functional as F

    from deeprecs.errors import ConfigError
    from deeprecs.models import build_model

    torch.manual_seed(0)
    tri = build_model("triplet", 5, 7, factors=4)
    deep = build_model("deep-triplet", 5, 7, user_factors=4, item_factors=4, hidden_size=8)
    deep.load_pretrained(tri)
    torch.testing.assert_close(deep.user_emb.weight, F.normalize(tri.user_emb.weight, dim=-1))
    torch.testing.assert_close(deep.item_emb.weight, F.normalize(tri.item_emb.weight, dim=-1))
    with pytest.raises(ConfigError, match="--user-factors is 6 but the triplet run's factors is 4"):
        build_model("deep-triplet", 5, 7, user_factors=6, item_factors=4, init="random").load_pretrained(tri)
    with pytest.raises(ConfigError, match="has 7 items, this data 8"):
        build_model("deep-triplet", 5, 8, user_factors=4, item_factors=4).load_pretrained(tri)


def test_deep_triplet_pretrain_end_to_end(movielens_dir, tmp_path):
    from deeprecs.pipeline import TrainSpec, train

    base = {"data": str(movielens_dir), "split": "holdout:2", "positive": 4.0, "seed": 0, "train_options": {"epochs": 2, "threads": 1}}
    train(TrainSpec(model="triplet", model_options={"factors": 4}, **base), out=tmp_path / "t", progress=False)
    model, metrics, *_ = train(TrainSpec(model="deep-triplet", pretrain=[str(tmp_path / "t")],
                                         model_options={"user_factors": 4, "item_factors": 4}, **base), progress=False)
    assert 0.0 <= metrics["auc"] <= 1.0
    with pytest.raises(Exception, match="one triplet run"):
        train(TrainSpec(model="deep-triplet", pretrain=[str(tmp_path / "t"), str(tmp_path / "t")], **base), progress=False)
