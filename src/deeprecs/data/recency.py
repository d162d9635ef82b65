"""Recency weights: count a user's latest interactions more.

Where the item to predict is the user's next one (leave-latest-one-out, and most deployments),
recent taste matters most. Row ``j`` of user ``u`` gets the weight

    w_j = 1 + recency * exp(-r_j / scale)

with ``r_j`` the number of ``u``'s rows that came after it: 0 for the latest, so the latest row
weighs ``1 + recency`` and the boost fades over about ``scale`` rows. Order: timestamp, then the
larger item index (the tie rule of leave-latest-one-out), then the later row. ALS uses the weights
in its confidences; the training loop draws positives in proportion to them.
"""

from __future__ import annotations

import numpy as np

from deeprecs.errors import ConfigError


def predicts_next_item(split) -> bool:  # noqa: ANN001 - deeprecs.data.dataset.Split
    """Leave-latest-one-out (``--split loo``, or NCF files with timestamps): the held-out items are
    each user's latest, and the train part has timestamps to tell which positives are recent."""
    return split.spec in ("loo", "ncf") and split.train.timestamps is not None


def rows_after(users: np.ndarray, items: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """For each row, how many rows of the same user come after it (0: the user's latest)."""
    n = len(users)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(n), items, timestamps, users))  # per user, oldest first
    counts = np.bincount(users, minlength=int(users.max()) + 1)
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n) - (np.cumsum(counts) - counts)[users[order]]
    return counts[users] - 1 - position


def recency_weights(users: np.ndarray, items: np.ndarray, timestamps: np.ndarray | None, recency: float,
                    scale: float) -> np.ndarray | None:
    """Per-row weights ``1 + recency exp(-r / scale)`` (float64), or ``None`` (every row weighs
    1) when ``recency`` is 0 or there are no timestamps (a default that suits timed data is a
    no-op on untimed data; ``deeprecs train`` refuses an explicit ``--recency`` there)."""
    if recency <= 0 or timestamps is None:
        return None
    if scale <= 0:
        raise ConfigError(f"recency_scale must be > 0, got {scale}")
    return 1.0 + recency * np.exp(-rows_after(users, items, timestamps) / scale)
