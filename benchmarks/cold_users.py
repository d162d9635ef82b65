"""Cold users on MovieLens 1M: our feature models against popularity within the user's demographic group.

ML-1M here is the NCF copy in ``/work/shared/data/ncf-ml-1m`` (a benchmark-only input: the rows
are skipped where the folder is missing): its train and test pairs together (every rating as a
positive; user = UserID - 1, so ``users.dat`` gives each user's age, gender, occupation and zip;
the items' MovieID map is not recoverable, so the items have no features). Split ``cold-users:0.2``
seed 0: every interaction of a fifth of the users goes to test, of another twentieth to validation.

The baseline, :class:`GroupPopularity`: a cold user's items ranked by how many train users of
their (age, gender, occupation) group have them, falling back to (age, gender), then gender, then
everyone where the group has fewer than ``min_users`` train users (chosen on the validation
users). Every row is scored by the same full-ranking metrics over the cold test users
(per-user AUC, HR@10, NDCG@10: :func:`deeprecs.evaluation.protocols.evaluate_ranking`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

ML1M = Path("/work/shared/data/ncf-ml-1m")
#: the groups, finest first (the last, no column: everyone)
LEVELS = (("age", "gender", "occupation"), ("age", "gender"), ("gender",), ())
KEYS = ("auc", "hr@10", "ndcg@10", "n_users_evaluated")


def ml1m_dataset(folder: Path = ML1M):
    """The NCF ML-1M pairs (train + test) as a :class:`~deeprecs.data.dataset.Dataset` whose users
    carry ML-1M's demographics (``None`` where the folder is missing)."""
    import pandas as pd

    from deeprecs.data.dataset import Dataset
    from deeprecs.data.interactions import Interactions
    from deeprecs.data.movielens import read_users

    if not (folder / "ml-1m.train.rating").is_file() or not (folder / "users.dat").is_file():
        return None
    parts = [pd.read_csv(folder / name, sep="\t", header=None, usecols=[0, 1], names=["user", "item"])
             for name in ("ml-1m.train.rating", "ml-1m.test.rating")]
    pairs = pd.concat(parts, ignore_index=True)
    users = read_users(folder, "dat")
    users.index = pd.Index(users.index.to_numpy(np.int64) - 1, name="user")  # NCF's user = UserID - 1
    # the files' row order as timestamps (fm reads a user's rated items, which asks for an order; the split ignores it)
    inter = Interactions.from_raw(pairs["user"].to_numpy(np.int64), pairs["item"].to_numpy(np.int64), timestamps=np.arange(len(pairs)))
    return Dataset("ncf-ml-1m", inter, users=users, source=str(folder))


class GroupPopularity:
    """Popularity within the user's demographic group (module docstring): ``scores(users) (B, n_items)``."""

    def __init__(self, train, users_table, min_users: int) -> None:  # noqa: ANN001 - Interactions, DataFrame
        n_users, n_items = train.n_users, train.n_items
        table = users_table.reindex(train.user_map.raw)  # rows in user-index order
        has_rows = np.bincount(train.users, minlength=n_users) > 0
        counts = np.bincount(train.items, minlength=n_items).astype(np.float64)
        self.levels = []  # per level: (group of each user, (n_groups, n_items) shares, train users per group)
        for columns in LEVELS:
            group = (table[list(columns)].astype(str).agg("|".join, axis=1).factorize()[0] if columns
                     else np.zeros(n_users, dtype=np.int64))
            n_groups = int(group.max()) + 1
            members = np.bincount(group[has_rows], minlength=n_groups)
            per_item = np.bincount(group[train.users] * n_items + train.items, minlength=n_groups * n_items).reshape(n_groups, n_items)
            self.levels.append((group, per_item / np.maximum(members, 1)[:, None], members))
        level = np.full(n_users, len(LEVELS) - 1)
        for k in reversed(range(len(LEVELS) - 1)):  # the finest level with enough train users
            group, _, members = self.levels[k]
            level = np.where(members[group] >= min_users, k, level)
        self.level = level
        self.tiebreak = torch.from_numpy(counts / counts.max() * 1e-6)

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        users = users.cpu().numpy()
        out = np.zeros((len(users), self.tiebreak.numel()))
        for k, (group, shares, _) in enumerate(self.levels):
            rows = self.level[users] == k
            out[rows] = shares[group[users[rows]]]
        return torch.from_numpy(out) + self.tiebreak


def group_popularity_row(min_users_grid: tuple = (1, 10, 30, 100, 300)) -> dict:
    """The baseline on ``cold-users:0.2`` seed 0: ``min_users`` chosen on the validation users
    (``(10 ** 9,)``: everyone's popularity, the plain baseline)."""
    from deeprecs.evaluation.protocols import evaluate_ranking
    from deeprecs.pipeline import TrainSpec, evaluation_train, prepare_split

    ds = ml1m_dataset()
    spec = TrainSpec(model="popularity", data="ncf-ml-1m", split="cold-users:0.2", seed=0, task="ranking")
    sp = prepare_split(spec, ds, "ranking")
    t0 = time.perf_counter()
    best = None
    for min_users in min_users_grid:
        model = GroupPopularity(sp.train, ds.users, min_users)
        valid_auc = evaluate_ranking(model.scores, sp.train, sp.valid, ks=(10,))["auc"]
        if best is None or valid_auc > best[0]:
            best = (valid_auc, min_users, model)
    fit_s = time.perf_counter() - t0
    valid_auc, min_users, model = best
    metrics = evaluate_ranking(model.scores, evaluation_train(sp), sp.test, ks=(10,))
    levels = np.bincount(model.level[np.unique(sp.test.users)], minlength=len(LEVELS))
    return {**{k: metrics[k] for k in KEYS}, "valid_auc": valid_auc, "chosen": {"min_users": min_users}, "fit_seconds": fit_s,
            "test_users_by_level": dict(zip(["/".join(c) or "everyone" for c in LEVELS], levels.tolist()))}


def ours_row(model: str, options: dict, train_options: dict) -> dict:
    """One of our models with the users' demographics on ``cold-users:0.2`` seed 0."""
    from deeprecs.pipeline import TrainSpec, train

    spec = TrainSpec(model=model, data="ncf-ml-1m", split="cold-users:0.2", seed=0, task="ranking", model_options=options,
                     train_options={"threads": 1, **train_options})
    cpu = time.process_time()
    _, metrics, history, _, _ = train(spec, progress=False, dataset=ml1m_dataset())
    return {**{k: metrics.get(k) for k in (*KEYS, "fit_seconds", "epochs", "user_features")}, "valid_auc": history.best_valid,
            "cpu_seconds": time.process_time() - cpu}


__all__ = ["GroupPopularity", "group_popularity_row", "ml1m_dataset", "ours_row"]
