"""How much each training row counts: its own weight (a play count, a quantity: ``Interactions.weights``)
as confidence, times the recency boost of the user's latest rows (:mod:`deeprecs.data.recency`).

``confidence``: ``log`` (default) turns a weight ``w`` into ``1 + log2(w)`` for ``w >= 1`` (and
``w`` itself below 1), so that 1 play counts 1, 2 plays 2, 8 plays 4 — Hu, Koren & Volinsky's
advice for counts, whose raw values would let a few heavy rows drown the rest; ``linear`` takes
``w`` as it is. ALS puts the result in its confidences (``c = 1 + alpha w``), the training loop
draws positives in proportion to it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from deeprecs.data.recency import recency_weights

Confidence = Literal["log", "linear"]


def confidence(weights: np.ndarray | None, kind: Confidence = "log") -> np.ndarray | None:
    """Row weights as confidence (float64), or ``None`` when there are none (every row 1)."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    return w if kind == "linear" else np.where(w >= 1, 1.0 + np.log2(np.maximum(w, 1.0)), w)


def combine(*factors: np.ndarray | None) -> np.ndarray | None:
    """The product of the factors that are there (``None``: none is)."""
    present = [f for f in factors if f is not None]
    if not present:
        return None
    out = present[0]
    for f in present[1:]:
        out = out * f
    return out


def row_weights(inter, recency: float, scale: float, kind: Confidence = "log") -> np.ndarray | None:  # noqa: ANN001 - Interactions
    """Each row's training weight: its confidence times its recency boost (``None``: all 1)."""
    return combine(recency_weights(inter.users, inter.items, inter.timestamps, recency, scale), confidence(inter.weights, kind))


__all__ = ["Confidence", "combine", "confidence", "row_weights"]
