"""The typed batch: padded histories, feature bags, moving, and how the contract's generic scorers carry them."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprecs.batch import Batch, FeatureBag, pad_histories
from deeprecs.errors import ConfigError
from deeprecs.models.base import ModelConfig, Recommender


def test_histories_are_left_padded_with_the_latest_item_last():
    out = pad_histories([[1, 2, 3], [4], [], [5, 6, 7, 8, 9]], max_len=3)
    assert out.tolist() == [[1, 2, 3], [-1, -1, 4], [-1, -1, -1], [7, 8, 9]]
    assert pad_histories([]).shape == (0, 0) and pad_histories([[], []]).shape == (2, 0)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 50), max_size=8), max_size=6), max_len=st.one_of(st.none(), st.integers(1, 5)))
def test_padding_keeps_each_rows_last_items_in_order(rows, max_len):
    out = pad_histories(rows, max_len)
    for row, padded in zip(rows, out.tolist()):
        kept = row[-max_len:] if max_len else row
        assert [i for i in padded if i >= 0] == kept and padded[len(padded) - len(kept):] == kept


def test_a_feature_bag_is_embedding_bags_layout():
    bag = FeatureBag.from_lists([[0, 2], [], [1]], weights=[[0.5, 1.0], [], [2.0]])
    assert bag.offsets.tolist() == [0, 2, 2] and bag.indices.tolist() == [0, 2, 1] and len(bag) == 3
    table = torch.nn.EmbeddingBag(3, 2, mode="sum")
    got = table(bag.indices, bag.offsets, per_sample_weights=bag.weights)
    w = table.weight
    torch.testing.assert_close(got, torch.stack([0.5 * w[0] + w[2], torch.zeros(2), 2.0 * w[1]]))


def test_a_batch_moves_whole_and_names_what_it_carries():
    batch = Batch(torch.tensor([0, 1]), torch.tensor([[1, 2], [3, 4]]), user_features=FeatureBag.from_lists([[0], [1]]),
                  history=pad_histories([[5], [6, 7]]))
    assert batch.present() == ("user_features", "history") and len(batch) == 2
    moved = batch.to("meta")
    assert moved.users.device.type == moved.history.device.type == moved.user_features.indices.device.type == "meta"
    assert batch.to("cpu") is batch
    assert batch.with_items(None).items is None and batch.with_items(None).history is batch.history


class Counting(Recommender):
    """A toy model that reads the batch's history: an item scores how often it is in the user's
    history (what a sequence model's batch carries), plus its id / 100."""

    Config = ModelConfig
    name = "counting"
    inputs = frozenset({"history"})

    def forward(self, batch: Batch) -> torch.Tensor:
        return (batch.history == batch.items.unsqueeze(1)).sum(1).float() + batch.items / 100


def test_the_generic_scorers_carry_each_users_history():
    """score_candidates and score_all, not overridden, give every candidate its user's own history."""
    model = Counting(ModelConfig(n_users=3, n_items=5))
    history = pad_histories([[1, 1, 4], [2], []])
    users = torch.tensor([0, 1, 2])
    full = model.score_all(Batch(users, history=history), chunk=5)  # one user per chunk: the rows are split too
    expected = torch.tensor([[0, 2, 0, 0, 1], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]]).float() + torch.arange(5) / 100
    torch.testing.assert_close(full, expected)
    cand = torch.tensor([[4, 1], [2, 0], [3, 3]])
    torch.testing.assert_close(model.score_candidates(Batch(users, cand, history=history)), full.gather(1, cand))


def test_a_model_without_user_features_says_so():
    model = Counting(ModelConfig(n_users=1, n_items=2))
    with pytest.raises(ConfigError, match="no user features"):
        model.score_candidates(Batch(torch.tensor([0]), torch.tensor([[0, 1]]), user_features=FeatureBag.from_lists([[0]]),
                                     history=pad_histories([[1]])))
