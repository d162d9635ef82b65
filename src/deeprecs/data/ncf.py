"""Reader for the NCF benchmark files (He et al., WWW 2017) and a validation hold-out.

``PREFIX.train.rating`` and ``PREFIX.test.rating``: ``user item``, ``user item rating-or-count``
or ``user item rating timestamp`` (tabs, commas or spaces; LF or CRLF; an optional header: see
:mod:`deeprecs.data.ncf_files`); ``test.rating`` has one row per user.
``PREFIX.test.negative``: ``(user,item)<TAB>neg1<TAB>...<TAB>negN``, aligned with test.rating.

The train file decides what the data is: its third column (ratings, kept in
``Interactions.ratings``, or counts, kept in ``Interactions.weights``: how much each pair counts,
the confidence ranking models train with, ``--confidence``) and its timestamps; the test part keeps its own third and fourth
columns only where the train file has them too. ``Dataset.interactions`` (train + test) keeps
a column where both parts have it; its ``meta["rating_column"]`` says ``"counts"`` or ``"ratings"``.

What the files hold is reported in ``Split.notes`` (and so in ``metrics.json`` as ``split_*``):
``{train,test}_file_columns``, ``_rows``, ``_header`` and ``_crlf`` (0/1), ``_counts`` (1: the
third column is counts, 0: ratings; only with a third column), and ``format`` (one line of text).
The files are evaluated as given; quirks are counted there too (only when present):
``negatives_equal_to_test_item`` (rows), ``negatives_in_train`` (entries),
``test_items_not_in_train`` (rows), ``duplicate_negatives`` (entries repeated within a row).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from deeprecs.data.dataset import Dataset, Split
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.data.ncf_files import read_rating_file
from deeprecs.data.textio import read_delimited, require_file
from deeprecs.errors import DataError
from deeprecs.pairs import PairSet, sorted_unique
from deeprecs.sampling import sample_negatives

log = logging.getLogger("deeprecs")


def _n_fields(path: Path) -> int:
    with open(require_file(path), "rb") as f:
        for line in f:
            if line.strip():
                return len(line.rstrip(b"\r\n").split(b"\t"))
    raise DataError(f"{path}: file is empty")


def _read_negatives(path: Path, test: pd.DataFrame, test_path: Path) -> np.ndarray:
    """The negative lists as raw ids ``(n_test, n_neg)``, checked against the test rows."""
    n = _n_fields(path)
    if n < 2:
        raise DataError(f"{path}:1: expected '(user,item)' followed by tab-separated negative item ids")
    df = read_delimited(path, "\t", [("pair", "str")] + [(f"n{j}", "int") for j in range(n - 1)])
    pair = df["pair"].str.strip()
    parsed = pair.str.extract(r"^\((-?\d+),\s*(-?\d+)\)$")
    bad = parsed[0].isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{path}:{row + 1}: expected '(user,item)' in the first field, got {pair.iloc[row]!r}")
    if len(df) != len(test):
        raise DataError(f"{path}: {len(df)} rows but {test_path.name} has {len(test)}; the files must be aligned row by row")
    pu, pi = parsed[0].astype(np.int64).to_numpy(), parsed[1].astype(np.int64).to_numpy()
    mismatch = (pu != test["user"].to_numpy()) | (pi != test["item"].to_numpy())
    if mismatch.any():
        row = int(np.argmax(mismatch))
        raise DataError(
            f"{path}:{row + 1}: pair ({pu[row]},{pi[row]}) does not match {test_path.name}:{row + 1} "
            f"({test['user'].iloc[row]},{test['item'].iloc[row]})"
        )
    return df.drop(columns="pair").to_numpy(np.int64)


def _index(vocab: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Dense indices of ``raw`` ids in the sorted int ``vocab`` (a lookup table when compact)."""
    if len(vocab) and vocab[0] >= 0 and vocab[-1] < 4 * len(vocab) + 1024:
        lut = np.zeros(int(vocab[-1]) + 1, dtype=np.int64)
        lut[vocab] = np.arange(len(vocab))
        return lut[raw]
    return np.searchsorted(vocab, raw)


def read_ncf(prefix: str | Path, *, name: str | None = None) -> Dataset:
    """Load ``PREFIX.{train.rating,test.rating,test.negative}`` as a Dataset of kind ``"ncf"``.

    Vocabularies cover every id in train, test and the negative lists (ids are the files'
    integers).  ``Dataset.interactions`` = train + test rows; ``fixed_split`` holds the split.
    """
    prefix = Path(prefix)
    paths = {k: Path(f"{prefix}.{k}") for k in ("train.rating", "test.rating", "test.negative")}
    train, train_file = read_rating_file(paths["train.rating"])
    test, test_file = read_rating_file(paths["test.rating"], kind=train_file.kind)
    neg_raw = _read_negatives(paths["test.negative"], test, paths["test.rating"])
    test = test[[c for c in test.columns if c in train.columns]]  # the train file decides the columns

    user_map = IdMap(sorted_unique(np.concatenate([train["user"].to_numpy(), test["user"].to_numpy()])), kind="user")
    item_map = IdMap(sorted_unique(np.concatenate([train["item"].to_numpy(), test["item"].to_numpy(), neg_raw.ravel()])), kind="item")
    meta = {"source": str(prefix)} | ({"rating_column": train_file.kind} if train_file.kind else {})

    def part(df: pd.DataFrame, columns=None) -> Interactions:  # noqa: ANN001 - the columns to keep
        keep = df.columns if columns is None else columns
        col = lambda c, dtype: df[c].to_numpy(dtype) if c in keep else None  # noqa: E731
        third = col("rating", np.float32)
        counts = train_file.kind == "counts"  # implicit data: how often, the confidence of each pair
        return Interactions(_index(user_map.raw, df["user"].to_numpy()), _index(item_map.raw, df["item"].to_numpy()),
                            user_map, item_map, None if counts else third, col("timestamp", np.int64), meta=dict(meta),
                            weights=third if counts else None)

    tr, te = part(train), part(test)
    full = part(pd.concat([train, test], ignore_index=True), columns=test.columns)
    negatives = _index(item_map.raw, neg_raw)
    notes = {**train_file.notes("train"), **test_file.notes("test"),
             "format": f"train.rating: {train_file.describe()}; test.rating: {test_file.describe()}",
             **ncf_quirks(tr, te, negatives)}
    split = Split(train=tr, test=te, test_negatives=negatives, spec="ncf", notes=notes)
    log.info("ncf %s: %s", prefix.name, notes["format"])
    quirks = {k: v for k, v in notes.items() if "_file_" not in k and k != "format"}
    if quirks:
        log.info("ncf %s: file quirks (evaluated as given): %s", prefix.name, quirks)
    return Dataset(name=name or f"ncf:{prefix.name}", interactions=full, path=prefix.parent,
                   source=f"ncf:{prefix}", kind="ncf", fixed_split=split,
                   rating_values=None)


def ncf_quirks(train: Interactions, test: Interactions, negatives: np.ndarray) -> dict:
    """Counts of the benchmark-file quirks (see the module docstring)."""
    eq_test = (negatives == test.items[:, None]).any(axis=1)
    in_train = PairSet.of(train).contains(test.users[:, None], negatives)
    srt = np.sort(negatives, axis=1)
    dups = int((srt[:, 1:] == srt[:, :-1]).sum()) if negatives.shape[1] > 1 else 0
    unseen = ~np.isin(test.items, train.items)
    notes = {
        "negatives_equal_to_test_item": int(eq_test.sum()),
        "negatives_in_train": int(in_train.sum()),
        "test_items_not_in_train": int(unseen.sum()),
        "duplicate_negatives": dups,
    }
    return {k: v for k, v in notes.items() if v}


def with_validation(split: Split, seed: int = 0, n_negatives: int = 99) -> Split:
    """A copy of ``split`` with one train interaction per user moved to ``valid``.

    Users with at least 2 train rows give up their latest train row (by timestamp, ties to
    the larger item index) when train has timestamps, else a random one (seeded).
    ``valid_negatives``: ``n_negatives`` items per valid row that the user never interacted
    with (train, test or valid), distinct, sampled uniformly with the seed.
    """
    rng = np.random.default_rng(seed)
    train = split.train
    pick = pick_one_per_user(train, rng, min_rows=2)
    mask = np.zeros(len(train), dtype=bool)
    mask[pick] = True
    valid = train.subset(mask)
    negs = sample_negatives(valid.users, [train, split.test], n_negatives, rng)
    notes = {**split.notes, "valid": "latest train row" if train.timestamps is not None else f"random train row (seed {seed})"}
    return Split(train=train.subset(~mask), test=split.test, valid=valid, test_negatives=split.test_negatives,
                 valid_negatives=negs, spec=split.spec, notes=notes)


def pick_one_per_user(inter: Interactions, rng: np.random.Generator, *, min_rows: int) -> np.ndarray:
    """Row index per user with >= ``min_rows`` rows: the latest (timestamp, then larger item
    index, then later row) when timestamps exist, else a random one. Sorted row indices."""
    n = len(inter)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if inter.timestamps is not None:
        order = np.lexsort((np.arange(n), inter.items, inter.timestamps, inter.users))
    else:
        order = np.argsort(inter.users + rng.random(n), kind="stable")  # random order within user
    su = inter.users[order]
    last = np.r_[su[1:] != su[:-1], True]
    chosen = order[last]
    counts = inter.user_counts()
    return np.sort(chosen[counts[inter.users[chosen]] >= min_rows])
