"""Negative sampling, one sampler for training and for protocols, as tensor operations over batches.

:class:`NegativeSampler` holds the set of pairs that count as positives (or as seen) and draws
items outside it:

- :meth:`NegativeSampler.sample`: training, ``(B,)`` users -> ``(B, n)`` negatives, with
  replacement, on the device of the training loop, from a ``torch.Generator``;
- :meth:`NegativeSampler.distinct`: protocols (leave-one-out's 99 negatives, a validation
  part's), ``n`` *distinct* unseen items per row, numpy, from a seeded ``numpy`` generator, so that
  a split is the same whatever device trains on it (:func:`sample_negatives`).

Kinds for training (``--sampler``):

- ``uniform``: items uniformly at random, positives allowed. The cheapest; fine when the
  catalogue is large and each user has few positives (collisions are rare).
- ``uniform-excl`` (default): uniform over items that are not the user's train positives. On the
  CPU by rejection (a dense bitmap, or a binary search on the sorted keys, then a few vectorised
  redraws of the collisions: the stream every CPU result in BENCHMARKS.md was made with); on an
  accelerator by an exact draw from each user's complement (a uniform rank among the user's
  non-positives, mapped to its item by one binary search: no redraw loop, so no host
  synchronisation). Use it on small, dense data such as MovieLens, where ~6 % of items are a
  typical user's positives.
- ``popularity``: items drawn with probability ``count ** alpha`` (word2vec's 0.75 by default),
  excluding positives. Popular items are harder negatives; helps full-ranking metrics against
  a popularity-dominated catalogue, at a cost on the long tail.
- ``hard`` (WARP): draws ``n`` candidates per positive (uniform, positives excluded); the ``warp``
  loss trains on the first violator and weights it by the rank that implies. Worth it when
  precision at the top matters (HR/NDCG@K); each step scores ``n`` candidates.
"""

from __future__ import annotations

import numpy as np
import torch

from deeprecs.errors import ConfigError
from deeprecs.pairs import PairSet, decode, encode

SAMPLERS = ("uniform", "uniform-excl", "popularity", "hard")


def popularity_probs(item_counts, alpha: float, device: torch.device | str = "cpu") -> torch.Tensor:  # noqa: ANN001 - counts per item
    """The popularity sampler's draw probabilities: ``count ** alpha``, normalised (float32)."""
    counts = np.asarray(item_counts, dtype=np.float64) ** alpha
    return torch.from_numpy(counts / counts.sum()).float().to(device)


class NegativeSampler:
    """Draws items that are not in ``pairs`` for batches of users.

    ``pairs``: the positives (training) or everything seen (protocols); ``n_users``: the
    vocabulary's size; ``item_counts``: training counts per item (the popularity sampler);
    ``exact``: draw ``uniform-excl`` from each user's complement instead of by rejection
    (default: on accelerators, see the module docstring).
    """

    def __init__(self, pairs: PairSet, n_users: int, kind: str = "uniform-excl", alpha: float = 0.75,
                 item_counts: np.ndarray | None = None, device: torch.device | str = "cpu", max_redraws: int = 20,
                 exact: bool | None = None) -> None:
        if kind not in SAMPLERS:
            raise ConfigError(f"unknown sampler {kind!r}; choose one of: {', '.join(SAMPLERS)}")
        self.pairs, self.kind, self.alpha = pairs, kind, alpha
        self.n_users, self.n_items = n_users, pairs.n_items
        self.device = torch.device(device)
        self.max_redraws = max_redraws
        self.exclude = kind != "uniform"
        self.exact = (self.device.type != "cpu") if exact is None else exact
        self._item_counts = item_counts
        self._tables: dict | None = None

    @classmethod
    def of(cls, train, kind: str = "uniform-excl", alpha: float = 0.75, device: torch.device | str = "cpu",  # noqa: ANN001
           exact: bool | None = None) -> "NegativeSampler":
        """The training sampler of ``train`` (an :class:`~deeprecs.data.interactions.Interactions`):
        its pairs are the positives; refuses users who have every item (no negative exists)."""
        sampler = cls(PairSet.of(train), train.n_users, kind, alpha, np.bincount(train.items, minlength=train.n_items),
                      device, exact=exact)
        full = np.bincount(train.users, minlength=train.n_users) >= train.n_items
        if sampler.exclude and full.any():
            raise ConfigError(f"{int(full.sum())} user(s) interacted with every item: no negative exists for them")
        return sampler

    # ------------------------------------------------------------------ training draws (torch, on the device)
    def _setup(self) -> dict:
        """Device tables, built on the first draw (a protocol sampler never needs them)."""
        if self._tables is None:
            dev, keys = self.device, torch.from_numpy(self.pairs.keys)
            t = {"keys": keys.to(dev), "bitmap": None, "probs": None}
            if self.n_users * self.n_items <= 1 << 26:  # small catalogues: the positive test is one gather
                bitmap = torch.zeros(self.n_users * self.n_items, dtype=torch.bool)
                bitmap[keys] = True
                t["bitmap"] = bitmap.to(dev)
            if self.kind == "popularity":
                t["probs"] = popularity_probs(self._item_counts, self.alpha, dev)
            if self.exact and self.exclude:
                # each positive p_k (k-th of its user, items ascending) has p_k - k non-positives below it
                indptr = self.pairs.row_starts(self.n_users)
                users, items = decode(self.pairs.keys, self.n_items)
                rank = np.arange(len(items)) - indptr[users]
                t["below"] = torch.from_numpy(encode(users, items - rank, self.n_items)).to(dev)
                t["indptr"] = torch.from_numpy(indptr).to(dev)
            self._tables = t
        return self._tables

    def _draw(self, shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
        probs = self._setup()["probs"]
        if probs is None:
            return torch.randint(0, self.n_items, shape, generator=generator, device=self.device)
        flat = torch.multinomial(probs, int(np.prod(shape)), replacement=True, generator=generator)
        return flat.view(shape)

    def is_positive(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Elementwise (broadcast): is ``(users, items)`` one of the pairs?"""
        t = self._setup()
        keys = t["keys"]
        if len(keys) == 0:
            return torch.zeros(torch.broadcast_shapes(users.shape, items.shape), dtype=torch.bool, device=items.device)
        q = encode(users, items, self.n_items)
        if t["bitmap"] is not None:
            return t["bitmap"][q]
        pos = torch.searchsorted(keys, q).clamp(max=len(keys) - 1)
        return keys[pos] == q

    def sample(self, users: torch.Tensor, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(B,)`` users -> ``(B, n)`` negatives (never a positive unless ``kind='uniform'``)."""
        if self.exclude and self.exact and self.kind != "popularity":
            return self._complement(users, n, generator)
        neg = self._draw((len(users), n), generator)
        if not self.exclude:
            return neg
        bad = self.is_positive(users.unsqueeze(1), neg)
        rows, cols = torch.nonzero(bad, as_tuple=True)
        for _ in range(self.max_redraws):  # redraw (and re-test) only the collisions
            if len(rows) == 0:
                return neg
            redrawn = self._draw((len(rows),), generator)
            neg[rows, cols] = redrawn
            still = self.is_positive(users[rows], redrawn)
            rows, cols = rows[still], cols[still]
        bad = torch.zeros_like(neg, dtype=torch.bool)
        bad[rows, cols] = True
        for row in torch.nonzero(bad.any(1)).flatten().tolist():  # rare: users with almost every item
            choices = torch.from_numpy(self._unseen_items(int(users[row]))).to(self.device)
            idx = torch.randint(0, len(choices), (int(bad[row].sum()),), generator=generator, device=self.device)
            neg[row, bad[row]] = choices[idx]
        return neg

    def _complement(self, users: torch.Tensor, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Exact uniform draws from each user's non-positives: a rank ``r`` among them, then the
        item ``r + #{k: p_k - k <= r}`` (``p_k`` the user's positives, ascending)."""
        t = self._setup()
        users = users.long()
        start, stop = t["indptr"][users], t["indptr"][users + 1]
        free = (self.n_items - (stop - start)).unsqueeze(1)  # (B, 1) non-positives of each user
        r = (torch.rand((len(users), n), generator=generator, device=self.device) * free).long().clamp(max=free - 1)
        below = torch.searchsorted(t["below"], encode(users.unsqueeze(1), r, self.n_items), right=True)
        return r + (below - start.unsqueeze(1))

    def _unseen_items(self, user: int) -> np.ndarray:
        lo, hi = np.searchsorted(self.pairs.keys, encode([user, user + 1], [0, 0], self.n_items))
        allowed = np.ones(self.n_items, dtype=bool)
        allowed[decode(self.pairs.keys[lo:hi], self.n_items)[1]] = False
        return np.flatnonzero(allowed)

    # ------------------------------------------------------------------ protocol draws (numpy, seeded)
    def distinct(self, users: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(len(users), n)`` int64 items, per row distinct and not paired with that user.

        Rejection sampling: draw all rows at once, redraw only rejected cells until none remain.
        :class:`ConfigError` when some user has fewer than ``n`` unpaired items."""
        users = np.asarray(users, dtype=np.int64)
        if len(users) == 0 or n == 0:
            return np.zeros((len(users), n), dtype=np.int64)
        unseen = self.pairs.unseen_counts(users)
        short = unseen < n
        if short.any():
            row = int(np.argmax(short))
            raise ConfigError(f"cannot sample {n} negatives: user index {int(users[row])} has only {int(unseen[row])} "
                              "unseen items; lower n_negatives")
        out = rng.integers(0, self.n_items, size=(len(users), n), dtype=np.int64)
        rows = np.arange(len(users))  # rows that still need checking
        while len(rows):
            block = out[rows]
            bad = self.pairs.contains(users[rows, None], block) | _repeats(block)
            n_bad = int(bad.sum())
            if n_bad == 0:
                break
            block[bad] = rng.integers(0, self.n_items, size=n_bad, dtype=np.int64)
            out[rows] = block
            rows = rows[bad.any(axis=1)]
        return out


def sample_negatives(users: np.ndarray, seen, n: int, rng: np.random.Generator) -> np.ndarray:  # noqa: ANN001
    """``(len(users), n)`` distinct items per row that the user never interacted with in ``seen``
    (an :class:`~deeprecs.data.interactions.Interactions` or a list of them sharing one
    vocabulary), from the seeded ``rng`` (:meth:`NegativeSampler.distinct`)."""
    parts = seen if isinstance(seen, list) else [seen]
    return NegativeSampler(PairSet.of(*parts), parts[0].n_users).distinct(users, n, rng)


def unseen_counts(users: np.ndarray, seen) -> np.ndarray:  # noqa: ANN001
    """How many items each of ``users`` never interacted with in ``seen`` (what
    :func:`sample_negatives` can draw from), ``(len(users),)`` int64."""
    parts = seen if isinstance(seen, list) else [seen]
    return PairSet.of(*parts).unseen_counts(users)


def _repeats(block: np.ndarray) -> np.ndarray:
    """Mask of entries equal to an earlier entry of the same row."""
    order = np.argsort(block, axis=1, kind="stable")
    srt = np.take_along_axis(block, order, axis=1)
    dup_sorted = np.zeros(block.shape, dtype=bool)
    dup_sorted[:, 1:] = srt[:, 1:] == srt[:, :-1]
    dup = np.zeros(block.shape, dtype=bool)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return dup


__all__ = ["SAMPLERS", "NegativeSampler", "popularity_probs", "sample_negatives", "unseen_counts"]
