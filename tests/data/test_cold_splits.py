"""Cold-start splits: every row of a seeded draw of items (users) goes to test, another draw's to
valid, and train keeps none of them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprecs.data import make_split
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.errors import ConfigError


def interactions(pairs: list[tuple[int, int]]) -> Interactions:
    users, items = (np.array(a, dtype=np.int64) for a in zip(*pairs))
    return Interactions(users, items, IdMap(np.arange(users.max() + 1)), IdMap(np.arange(items.max() + 1)))


@settings(max_examples=40, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 30)), min_size=20, max_size=120, unique=True),
       side=st.sampled_from(["items", "users"]), fraction=st.sampled_from([0.2, 0.3]), seed=st.integers(0, 3))
def test_every_row_of_a_held_out_id_is_in_test_and_none_in_train(pairs, side, fraction, seed):
    data = interactions(pairs)
    try:
        split = make_split(data, f"cold-{side}:{fraction}", seed=seed)
    except ConfigError:
        return  # too few ids to hold some out
    ids = (lambda part: part.items) if side == "items" else (lambda part: part.users)
    test_ids, valid_ids, train_ids = set(ids(split.test)), set(ids(split.valid)), set(ids(split.train))
    assert not test_ids & train_ids and not valid_ids & train_ids and not test_ids & valid_ids
    assert len(split.train) + len(split.test) + len(split.valid) == len(data)
    n_present = len(set(ids(data)))
    assert len(test_ids) == split.notes[f"cold_{side}"] == int(round(fraction * n_present))
    again = make_split(data, f"cold-{side}:{fraction}", seed=seed)
    np.testing.assert_array_equal(again.test.items, split.test.items)
    np.testing.assert_array_equal(again.test.users, split.test.users)


def test_a_fraction_that_leaves_nothing_is_refused():
    with pytest.raises(ConfigError, match="cold-items"):
        make_split(interactions([(0, 0), (1, 1)]), "cold-items:0.9")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        make_split(interactions([(0, 0), (1, 1)]), "cold-users:2")
