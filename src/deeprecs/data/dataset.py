"""A loaded dataset (interactions + side data) and a split of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from deeprecs.data.interactions import Interactions


@dataclass
class Dataset:
    """Interactions plus what is known about items and users.

    ``items``: DataFrame indexed by raw item id with (where known) ``title`` (str),
    ``year`` (float, NaN if unknown), ``genres`` (str, ``|``-separated).
    ``users``: DataFrame indexed by raw user id (e.g. ``age``, ``gender``, ``occupation``, ``zip``).
    ``rating_values``: the valid rating values (for rounded MAE), e.g. ``[1, 2, 3, 4, 5]``.
    ``path``: the folder the files came from (canonical split files are looked up there).
    ``source``: where the data came from, for logs (``"grouplens"``, ``"pypi:recbole==1.2.1"``, a path).
    ``kind``: ``"ratings"`` or ``"ncf"`` (a fixed benchmark split that carries its own test set).
    """

    name: str
    interactions: Interactions
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    rating_values: np.ndarray | None = None
    path: Path | None = None
    source: str = ""
    kind: str = "ratings"
    fixed_split: "Split | None" = None

    def title(self, raw_item_id) -> str:
        if self.items is not None and "title" in self.items.columns and raw_item_id in self.items.index:
            return str(self.items.at[raw_item_id, "title"])
        return str(raw_item_id)


@dataclass
class Split:
    """``train`` / ``test`` (and optional ``valid``) parts sharing one vocabulary.

    ``test_negatives``: for the sampled protocol, an int64 array ``(len(test), n_neg)`` of item
    indices aligned row by row with ``test`` (the NCF file's list, or sampled with the seed).
    ``notes``: protocol quirks to report beside the metrics (e.g. ``{"negatives_equal_to_test_item": 156}``).
    ``dislikes``: with ``--positive R`` on rated data, the train pairs rated below ``R`` (known
    dislikes: candidates for evaluation, ranked last, never recommended), else None.
    """

    train: Interactions
    test: Interactions
    valid: Interactions | None = None
    test_negatives: np.ndarray | None = None
    valid_negatives: np.ndarray | None = None
    spec: str = ""
    notes: dict = field(default_factory=dict)
    dislikes: Interactions | None = None
