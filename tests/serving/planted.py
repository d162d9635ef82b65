"""The planted data set and the tiny model the serving tests share (see conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from deeprecs.data.interactions import Interactions
from deeprecs.models import build_model
from deeprecs.runs import save_run
from deeprecs.training import RankingTask, TrainConfig, fit

BLOCK_A = list(range(100, 120))
BLOCK_B = list(range(200, 220))
COLD = list(range(300, 305))
N_USERS = 80


def planted_interactions(seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(N_USERS):
        block = BLOCK_A if u < N_USERS // 2 else BLOCK_B
        for i in rng.choice(block, 10, replace=False):
            users.append(f"u{u}")
            items.append(int(i))
    users += ["u0"] * len(COLD)  # so the cold items are in the vocabulary (seen by u0 only)
    items += COLD
    return Interactions.from_raw(users, items)


def train_planted(out: Path, seed: int = 0) -> Path:
    train = planted_interactions(seed)
    model = build_model("mf", len(train.user_map), len(train.item_map), factors=8, l2=0.05)
    cfg = TrainConfig(epochs=20, batch_size=64, lr=0.05, loss="bce", seed=seed, threads=1, progress=False)
    fit(model, RankingTask(train, cfg), cfg)
    titles = pd.DataFrame({"title": [f"Item {i}" + (" (A)" if i in BLOCK_A else " (B)" if i in BLOCK_B else "")
                                     for i in train.item_map.raw.tolist()]}, index=train.item_map.raw)
    config = {"model": "mf", "task": "ranking", "loss": "bce", "data": "planted", "dataset": "planted", "seed": seed}
    return save_run(out, model, config, train, items=titles, metrics={"hr@10": 1.0})
