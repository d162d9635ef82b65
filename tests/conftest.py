"""Shared fixtures: a planted "checkerboard" and a tiny MovieLens folder written into tmp_path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from deeprecs.data import IdMap, Interactions

GROUP, BLOCK = 8, 8  # users per group, items per block (two of each)


@dataclass
class Checkerboard:
    """Users ``0..7`` like items ``0..7``, users ``8..15`` like items ``8..15``.

    ``held_out[u]`` is one liked item per user left out of training (each item is held out by
    exactly one user). ``ranking``: the train positives; ``rating``: in-block pairs rated 5 and
    out-of-block pairs rated 1, minus ``held_out`` and ``held_out_bad``.
    """

    ranking: Interactions
    rating: Interactions
    held_out: np.ndarray  # (n_users,) liked item left out
    held_out_bad: np.ndarray  # (n_users,) disliked item left out of the rating data

    def block(self, user: int) -> np.ndarray:
        return np.arange(BLOCK) + BLOCK * (user // GROUP)

    def other_block(self, user: int) -> np.ndarray:
        return np.arange(BLOCK) + BLOCK * (1 - user // GROUP)


def make_checkerboard() -> Checkerboard:
    n_users, n_items = 2 * GROUP, 2 * BLOCK
    users = np.arange(n_users)
    held_out = BLOCK * (users // GROUP) + users % GROUP
    held_out_bad = BLOCK * (1 - users // GROUP) + (users + 3) % BLOCK
    uu, ii = np.meshgrid(users, np.arange(n_items), indexing="ij")
    uu, ii = uu.ravel(), ii.ravel()
    liked = (uu // GROUP) == (ii // BLOCK)
    umap, imap = IdMap(users, kind="user"), IdMap(np.arange(n_items), kind="item")
    keep_pos = liked & (ii != held_out[uu])
    ranking = Interactions(uu[keep_pos], ii[keep_pos], umap, imap)
    keep_rated = keep_pos | (~liked & (ii != held_out_bad[uu]))
    ratings = np.where(liked, 5.0, 1.0)[keep_rated]
    rating = Interactions(uu[keep_rated], ii[keep_rated], umap, imap, ratings)
    return Checkerboard(ranking, rating, held_out, held_out_bad)


@pytest.fixture(scope="session")
def checkerboard() -> Checkerboard:
    """Read-only: build your own with :func:`make_checkerboard` to change it."""
    return make_checkerboard()


def write_movielens(folder: Path, n_users: int = 30, n_items: int = 24, per_user: int = 12, seed: int = 0) -> Path:
    """A small ML-100K-format folder (``u.data``, ``u.item``) with a planted two-group taste."""
    rng = np.random.default_rng(seed)
    picks = [list(rng.choice(np.arange(1, n_items + 1), size=per_user, replace=False)) for _ in range(n_users)]
    for i in sorted(set(range(1, n_items + 1)) - {i for row in picks for i in row}):
        picks[i % n_users].append(i)  # every item is rated at least once
    lines = []
    for u, items in enumerate(picks, start=1):
        for t, i in enumerate(items):
            liked = (u % 2) == (i % 2)
            rating = int(np.clip(rng.integers(4, 6) if liked else rng.integers(1, 3), 1, 5))
            lines.append(f"{u}\t{i}\t{rating}\t{880000000 + 1000 * u + t}\n")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join(lines))
    flags = "|".join(["0"] * 19)
    (folder / "u.item").write_text(
        "".join(f"{i}|Movie {i} (1995)|01-Jan-1995||http://x/{i}|{flags}\n" for i in range(1, n_items + 1)),
        encoding="latin-1",
    )
    return folder


@pytest.fixture(scope="session")
def write_ml():
    """:func:`write_movielens`, for fixtures of any scope."""
    return write_movielens


@pytest.fixture
def movielens_dir(tmp_path, monkeypatch) -> Path:
    """A tiny MovieLens folder, with DEEPRECS_HOME pointed into tmp_path."""
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "deeprecs-home"))
    return write_movielens(tmp_path / "ml-tiny")
