"""Train/test(/valid) splits by a text spec (see PROTOCOLS.md).

=====================  ===================================================================
``random:F``           shuffle all rows with ``default_rng(seed).permutation``; the last
                       ``round(F * n)`` rows of the permutation are test.
``holdout:K``          per user, K random rows (seeded) to test; users with <= K rows keep
                       every row in train (counted in ``notes["users_kept_in_train"]``).
``canonical:uN``       ML-100K ``u1..u5``, ``ua``, ``ub``: the shipped ``uN.base/uN.test`` in
                       ``dataset.path`` when present; otherwise rebuilt from ``u.data`` file
                       order: ``ua`` = each user's 1st-10th rating, ``ub`` = 11th-20th
                       (``allbut.pl``), ``uK`` = rows ``20000*(K-1)`` .. ``20000*K-1`` (``mku.sh``).
``loo``                test = each user's latest row (timestamp, ties: larger item index),
                       valid = the latest remaining; users with 1 row stay in train only,
                       users with 2 rows get a test row but no valid row.  Without timestamps
                       the input order stands in for time.  ``test_negatives`` /
                       ``valid_negatives``: ``n_negatives`` distinct items the user never
                       interacted with, sampled uniformly with the seed.
``temporal:F``         global time cut: the latest ``round(F * n)`` rows (by timestamp, ties
                       by row order) are test.
``cold-items:F``       cold start: ``round(F * n)`` of the ``n`` items with rows, drawn with
                       ``default_rng(seed)``, and every row of theirs go to test; valid = every
                       row of another ``round(F * n / 4)`` items (cold too, for early stopping
                       and choices on validation); ``notes["cold_items"]``: how many.
``cold-users:F``       the same for users.
``ncf``                a Dataset of kind ``"ncf"`` always returns its fixed split.
=====================  ===================================================================

Every part is ``data.subset(rows)`` (same vocabularies) with rows in their original order.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from deeprecs.data.dataset import Dataset, Split
from deeprecs.data.fresh_memory import small_pages
from deeprecs.data.interactions import Interactions
from deeprecs.data.ncf import pick_one_per_user
from deeprecs.data.shuffle import permutation_tail
from deeprecs.data.textio import read_delimited
from deeprecs.errors import ConfigError, DataError
from deeprecs.pairs import encode
from deeprecs.sampling import sample_negatives

log = logging.getLogger("deeprecs")
CANONICAL = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
SPECS = "random:F, holdout:K, canonical:u1..u5|ua|ub, loo, temporal:F, cold-items:F, cold-users:F, ncf"


def make_split(data: Dataset | Interactions, spec: str, seed: int = 0, *, n_negatives: int = 99) -> Split:
    """Split ``data`` by ``spec`` (module docstring); :class:`ConfigError` for a bad spec."""
    with small_pages():  # large one-pass arrays: see deeprecs.data.fresh_memory
        return _split(data, spec, seed, n_negatives)


def _split(data: Dataset | Interactions, spec: str, seed: int, n_negatives: int) -> Split:
    if isinstance(data, Dataset) and data.kind == "ncf" and data.fixed_split is not None:
        if spec not in ("ncf", "fixed"):
            log.warning("%s is a fixed NCF benchmark split; ignoring split spec %r", data.name, spec)
        return data.fixed_split
    inter = data.interactions if isinstance(data, Dataset) else data
    kind, _, arg = spec.strip().partition(":")
    if kind == "random":
        test = _random(inter, _fraction(spec, arg), seed)
    elif kind == "temporal":
        test = _temporal(inter, _fraction(spec, arg))
    elif kind == "holdout":
        return _holdout(inter, _count(spec, arg), seed, spec)
    elif kind == "canonical":
        if arg not in CANONICAL:
            raise ConfigError(f"bad split {spec!r}: canonical splits are {', '.join(CANONICAL)} (ML-100K)")
        test = _canonical(inter, arg, data.path if isinstance(data, Dataset) else None)
    elif kind == "loo" and not arg:
        return _loo(inter, seed, n_negatives)
    elif kind in ("cold-items", "cold-users"):
        return _cold(inter, kind.removeprefix("cold-"), _fraction(spec, arg), seed, spec)
    elif kind == "ncf":
        raise ConfigError("split 'ncf' needs an NCF dataset (load it with ncf:PREFIX)")
    else:
        raise ConfigError(f"unknown split {spec!r}; expected one of {SPECS}")
    return _finish(inter, test, spec)


def _fraction(spec: str, arg: str) -> float:
    try:
        f = float(arg)
    except ValueError:
        f = -1.0
    if not 0.0 < f < 1.0:
        raise ConfigError(f"bad split {spec!r}: the fraction must be a number between 0 and 1, e.g. random:0.2")
    return f


def _count(spec: str, arg: str) -> int:
    if not arg.isdigit() or int(arg) < 1:
        raise ConfigError(f"bad split {spec!r}: K must be a positive integer, e.g. holdout:10")
    return int(arg)


def _finish(inter: Interactions, test_mask: np.ndarray, spec: str, valid_mask: np.ndarray | None = None, **extra) -> Split:
    train_mask = ~test_mask if valid_mask is None else ~(test_mask | valid_mask)
    train, test = inter.subset(train_mask), inter.subset(test_mask)
    valid = None if valid_mask is None else inter.subset(valid_mask)
    notes = {**_cold_counts(train, test), **extra.pop("notes", {})}
    return Split(train=train, test=test, valid=valid, spec=spec, notes=notes, **extra)


def _cold_counts(train: Interactions, test: Interactions) -> dict:
    """Test rows whose user / item has no train row (PROTOCOLS: count them, never drop)."""
    notes = {
        "test_rows_user_not_in_train": int((train.user_counts()[test.users] == 0).sum()),
        "test_rows_item_not_in_train": int((train.item_counts()[test.items] == 0).sum()),
    }
    return {k: v for k, v in notes.items() if v}


def _random(inter: Interactions, fraction: float, seed: int) -> np.ndarray:
    """The last ``round(fraction * n)`` rows of ``default_rng(seed).permutation(n)`` (only those
    steps of numpy's shuffle are taken: :func:`deeprecs.data.shuffle.permutation_tail`)."""
    n = len(inter)
    mask = np.zeros(n, dtype=bool)
    mask[permutation_tail(seed, n, int(round(fraction * n)))] = True
    return mask


def _temporal(inter: Interactions, fraction: float) -> np.ndarray:
    if inter.timestamps is None:
        raise ConfigError("split temporal:F needs timestamps; these interactions have none")
    n = len(inter)
    order = np.argsort(inter.timestamps, kind="stable")  # ties: earlier row first
    mask = np.zeros(n, dtype=bool)
    mask[order[n - int(round(fraction * n)):]] = True
    return mask


def _rank_within_user(users: np.ndarray, order: np.ndarray) -> np.ndarray:
    """For rows visited in ``order`` (grouped by user), each row's 0-based rank in its group."""
    su = users[order]
    starts = np.r_[0, np.flatnonzero(su[1:] != su[:-1]) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(su)]))
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(su)) - group_start
    return rank


def _holdout(inter: Interactions, k: int, seed: int, spec: str) -> Split:
    rng = np.random.default_rng(seed)
    order = np.argsort(inter.users + rng.random(len(inter)), kind="stable")  # random within user
    rank = _rank_within_user(inter.users, order)
    counts = inter.user_counts()
    eligible = counts[inter.users] > k
    kept = int(((counts > 0) & (counts <= k)).sum())
    return _finish(inter, (rank < k) & eligible, spec, notes={"users_kept_in_train": kept} if kept else {})


def _canonical(inter: Interactions, name: str, folder: Path | None) -> np.ndarray:
    if folder is not None and (Path(folder) / f"{name}.test").is_file():
        return _from_files(inter, Path(folder), name)
    log.info("canonical:%s: no %s.test beside the data; rebuilding it from u.data file order", name, name)
    n = len(inter)
    if name in ("ua", "ub"):
        rank = _rank_within_user(inter.users, np.argsort(inter.users, kind="stable"))
        lo = 0 if name == "ua" else 10
        return (rank >= lo) & (rank < lo + 10)
    if n != 100_000 or inter.meta.get("layout") != "100k":
        raise DataError(
            f"canonical:{name} cannot be rebuilt: it needs {name}.base/{name}.test beside the data, or the complete "
            f"ML-100K u.data (100,000 rows in file order; got {n:,} rows)"
        )
    k = int(name[1])
    mask = np.zeros(n, dtype=bool)
    mask[20_000 * (k - 1): 20_000 * k] = True
    return mask


def _from_files(inter: Interactions, folder: Path, name: str) -> np.ndarray:
    """Test mask for the rows listed in ``folder/name.test``; checks ``name.base`` covers the rest."""
    cols = [("user", "int"), ("item", "int"), ("rating", "float"), ("timestamp", "int")]
    test = read_delimited(folder / f"{name}.test", "\t", cols)
    n_items = inter.n_items
    keys = encode(inter.users, inter.items, n_items)
    order = np.argsort(keys, kind="stable")
    u = _lookup(inter.user_map.raw, test["user"].to_numpy())
    i = _lookup(inter.item_map.raw, test["item"].to_numpy())
    if (u < 0).any() or (i < 0).any():
        row = int(np.argmax((u < 0) | (i < 0)))
        raise DataError(f"{folder / (name + '.test')}:{row + 1}: user/item not in the loaded ratings; is it the same dataset?")
    wanted = encode(u, i, n_items)
    pos = np.searchsorted(keys[order], wanted).clip(max=len(keys) - 1)
    found = keys[order][pos] == wanted
    if not found.all():
        row = int(np.argmax(~found))
        raise DataError(f"{folder / (name + '.test')}:{row + 1}: this (user, item) is not in the loaded ratings")
    mask = np.zeros(len(inter), dtype=bool)
    mask[order[pos]] = True
    base = folder / f"{name}.base"
    if base.is_file() and base.read_bytes().count(b"\n") != len(inter) - int(mask.sum()):
        log.warning("%s: row count differs from the loaded ratings minus %s.test", base, name)
    return mask


def _lookup(vocab: np.ndarray, raw: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(vocab, raw).clip(max=len(vocab) - 1)
    return np.where(vocab[pos] == raw, pos, -1)


def _cold(inter: Interactions, side: str, fraction: float, seed: int, spec: str) -> Split:
    """Every row of a seeded draw of ``fraction`` of the users or items to test, of another
    quarter as many to valid (module docstring)."""
    ids = inter.items if side == "items" else inter.users
    present = np.flatnonzero(np.bincount(ids, minlength=inter.n_items if side == "items" else inter.n_users) > 0)
    drawn = np.random.default_rng(seed).permutation(present)
    n_test = int(round(fraction * len(present)))
    n_valid = int(round(fraction * len(present) / 4))
    if n_test < 1 or n_test + n_valid >= len(present):
        raise ConfigError(f"bad split {spec!r}: {len(present)} {side} with rows leave no {side} for test or for train")
    test_mask = np.isin(ids, drawn[:n_test])
    valid_mask = np.isin(ids, drawn[n_test : n_test + n_valid])
    return _finish(inter, test_mask, spec, valid_mask, notes={f"cold_{side}": n_test, f"valid_cold_{side}": n_valid})


def _loo(inter: Interactions, seed: int, n_negatives: int) -> Split:
    rng = np.random.default_rng(seed)
    timed = inter if inter.timestamps is not None else inter.replace(timestamps=np.arange(len(inter)))
    test_rows = pick_one_per_user(timed, rng, min_rows=2)
    remaining = np.ones(len(inter), dtype=bool)
    remaining[test_rows] = False
    rest_idx = np.flatnonzero(remaining)
    rest = timed.subset(rest_idx)
    # valid only for users that keep >= 1 train row after it: >= 3 rows in all.
    counts = inter.user_counts()
    valid_local = pick_one_per_user(rest, rng, min_rows=1)
    valid_local = valid_local[counts[rest.users[valid_local]] >= 3]
    test_mask = ~remaining
    valid_mask = np.zeros(len(inter), dtype=bool)
    valid_mask[rest_idx[valid_local]] = True
    notes = {"time": "timestamp" if inter.timestamps is not None else "input order (no timestamps)",
             "users_without_test": int(((counts > 0) & (counts < 2)).sum()),
             "users_without_valid": int(((counts > 0) & (counts < 3)).sum())}
    test_users = inter.users[test_mask]
    valid_users = inter.users[valid_mask]
    test_neg = sample_negatives(test_users, inter, n_negatives, rng)
    valid_neg = sample_negatives(valid_users, inter, n_negatives, rng)
    return _finish(inter, test_mask, "loo", valid_mask, test_negatives=test_neg, valid_negatives=valid_neg,
                   notes={k: v for k, v in notes.items() if v})
