"""Ranked lists as people and clients read them: one formatter for the CLI, the service and the store path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def py(value: Any) -> Any:
    """A numpy scalar as the Python value JSON wants (others unchanged)."""
    return value.item() if hasattr(value, "item") else value


def ranked(items: Sequence, values: Sequence[float], titles: Sequence[str], key: str = "score") -> list[dict]:
    """``[{"rank": 1, "item": ..., key: ..., "title": ...}, ...]`` from parallel lists (scores as
    float32 values, the precision they were computed in)."""
    return [{"rank": n + 1, "item": py(item), key: float(np.float32(value)), "title": title}
            for n, (item, value, title) in enumerate(zip(items, values, titles))]


def ranked_indices(indices: Sequence[int], values: Sequence[float], raw_ids: np.ndarray | Sequence, titles: Sequence[str],
                   key: str = "score") -> list[dict]:
    """:func:`ranked` of item indices (``-1``: padding, dropped) with their raw ids and titles
    looked up by index."""
    kept = [(int(i), v) for i, v in zip(np.asarray(indices).tolist(), np.asarray(values).tolist()) if i >= 0]
    return ranked([raw_ids[i] for i, _ in kept], [v for _, v in kept], [titles[i] for i, _ in kept], key)


__all__ = ["py", "ranked", "ranked_indices"]
