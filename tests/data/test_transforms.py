"""Rating transforms."""

from __future__ import annotations

import pytest

from deeprecs.data.interactions import Interactions
from deeprecs.data.transforms import apply_value_map, binarize, parse_value_map
from deeprecs.errors import ConfigError, DataError


def _inter(ratings):
    return Interactions.from_raw(list(range(len(ratings))), [0] * len(ratings), ratings)


def test_binarize():
    out = binarize(_inter([1, 3.5, 4, 5]), 4)
    assert out.ratings.tolist() == [0, 0, 1, 1] and len(out) == 4


def test_value_map_exact_and_ranges():
    assert parse_value_map("1:-1,2:-1,3:0,4:1,5:1")[0] == (1.0, 1.0, -1.0)
    assert apply_value_map(_inter([1, 2, 3, 4, 5]), "1:-1,2:-1,3:0,4:1,5:1").ratings.tolist() == [-1, -1, 0, 1, 1]
    half = _inter([0.5, 2.5, 3.0, 4.5])
    assert apply_value_map(half, "0.5-2.5:-1,3:0,3.5-5:1").ratings.tolist() == [-1, -1, 0, 1]
    assert parse_value_map("-2-0:0") == [(-2.0, 0.0, 0.0)]
    assert apply_value_map(_inter([1, 2]), {1: 0, 2: 1}).ratings.tolist() == [0, 1]


def test_unmapped_ratings_are_listed():
    with pytest.raises(DataError, match=r"does not cover rating\(s\) 0.5, 1.5 \(2 rows\)"):
        apply_value_map(_inter([0.5, 1, 1.5]), "1:-1,2:-1,3:0,4:1,5:1")


@pytest.mark.parametrize("text", ["", "1", "a:1", "1:x", "3-1:0"])
def test_bad_value_maps(text):
    with pytest.raises(ConfigError):
        parse_value_map(text)


def test_implicit_data_has_no_ratings():
    with pytest.raises(DataError, match="implicit"):
        binarize(Interactions.from_raw([1], [1]), 3)
