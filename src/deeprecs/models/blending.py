"""A blend's machinery: standardised scores, cold items last, and how it is fitted — its members
first (each as it trains alone), then its weights on the validation part.

* ``rating``: least squares on the members' validation predictions;
* ``ranking``: the simplex grid's weights with the best validation metric, computed from each
  member's standardised scores cached once (:class:`CachedBlend`); with ``combiner: mlp`` also a
  small network over those scores, the item's popularity and the user's activity, kept only where
  its cross-validated NDCG@10 beats the linear weights (:func:`fit_combiner`).

Test data is never looked at: everything here reads the validation part.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch
from torch import nn

from deeprecs.batch import Batch
from deeprecs.errors import ConfigError
from deeprecs.evaluation.sampled import hit_ndcg, sampled_rank
from deeprecs.models.base import TrainingContext
from deeprecs.sampling import sample_negatives, unseen_counts
from deeprecs.training import History

log = logging.getLogger("deeprecs")


def fit_blend(model, ctx: TrainingContext) -> History:  # noqa: ANN001 - a Blend
    """Train each member with its own defaults (unless they are trained runs, ``--pretrain``),
    then fit the blend weights on validation data."""
    split = ctx.split
    if split.valid is None or not len(split.valid):
        raise ConfigError("blend needs a validation part to fit its weights (--valid-fraction > 0)")
    task = model.config.task
    total = History(valid_metric="valid_rmse" if task == "rating" else "")
    for name, member in [] if ctx.runs() else zip(model.config.members, model.members):
        history = ctx.loop(member, name=name)
        total.member_best_epochs.append(history.best_epoch if history.epochs else -1)
        total.fit_seconds += history.fit_seconds
        total.epochs.extend({**row, "member": name} for row in history.epochs)
    t0 = time.perf_counter()
    if task == "ranking":
        fit_ranking_weights(model, ctx, total)
    else:
        valid = split.valid
        model.fit_weights(torch.from_numpy(valid.users), torch.from_numpy(valid.items), torch.from_numpy(valid.ratings), ctx.rating_range)
        validate, _, _ = ctx.validator()
        total.best_valid = float(validate(model))
    total.fit_seconds += time.perf_counter() - t0
    log.info("blend weights %s (%s %.4f)", [round(w, 4) for w in model.weights.tolist()], total.valid_metric, total.best_valid)
    return total


class CachedBlend(torch.nn.Module):
    """A blend's members' standardised scores for some users, computed once, so that each
    candidate weight vector is validated without re-scoring the members."""

    def __init__(self, model, users: np.ndarray) -> None:  # noqa: ANN001 - a Blend
        super().__init__()
        dev = model.device
        self.pos = torch.full((model.config.n_users,), -1, dtype=torch.long, device=dev)
        self.pos[torch.from_numpy(users).to(dev)] = torch.arange(len(users), device=dev)
        with torch.no_grad():
            self.rows = torch.stack(model.member_scores(torch.from_numpy(users).to(dev)))  # (k, U, n_items)
        self.weights = torch.zeros(len(model.members), device=dev)
        self.warm = model.warm

    @property
    def device(self) -> torch.device:
        return self.rows.device

    def score_all(self, batch: Batch, chunk: int = 0) -> torch.Tensor:
        return cold_items_last(torch.einsum("k,kbi->bi", self.weights, self.rows[:, self.pos[batch.users]]), self.warm)

    def forward(self, batch: Batch) -> torch.Tensor:
        return torch.einsum("k,kb->b", self.weights, self.rows[:, self.pos[batch.users], batch.items])


def rows_of(part, negatives: np.ndarray | None, keep: np.ndarray) -> tuple:  # noqa: ANN001 - Interactions
    """The rows ``keep`` (a mask) of a validation part and of its negatives, if it has some."""
    return part.subset(keep), None if negatives is None else np.asarray(negatives)[keep]


def fit_ranking_weights(model, ctx: TrainingContext, total: History, max_users: int = 4096) -> None:  # noqa: ANN001 - a Blend
    """The simplex-grid weights with the best validation metric (ties: the first, which puts
    the most weight on the first members)."""
    split = ctx.split
    valid, negatives = split.valid, split.valid_negatives
    users = np.unique(valid.users)
    if len(users) > max_users:  # bound the cache (k x users x items floats): a seeded sample of users
        users = np.sort(np.random.default_rng(0).choice(users, max_users, replace=False))
        valid, negatives = rows_of(valid, negatives, np.isin(valid.users, users))
    validate, metric, _ = ctx.validator(valid, negatives)
    cached = CachedBlend(model, users)
    best, best_w = -np.inf, None
    for w in simplex_grid(len(model.members)):
        cached.weights = w.to(cached.device)
        value = float(validate(cached))
        if value > best + 1e-9:
            best, best_w = value, w
    model.set_ranking_weights(best_w)
    total.valid_metric, total.best_valid = metric, best
    if model.config.combiner == "mlp":
        fit_combiner(model, ctx, total)


@torch.no_grad()
def fit_combiner(model, ctx: TrainingContext,  # noqa: ANN001 - a Blend
                 total: History, folds: int = 5, max_rows: int = 20000, n_negatives: int = 99) -> None:
    """Train ``model``'s combiner on the validation candidates: each validation item with the
    protocol's negatives (or, without them, ``n_negatives`` the user never interacted with,
    seeded). Kept (``use_combiner``) only when its ``folds``-fold cross-validated NDCG@10 over the
    validation users beats the linear blend's on the same candidates; the metric of the winner
    becomes the run's validation figure. The combiner trains on the host (a few thousand rows)."""
    split = ctx.split
    valid, negatives = split.valid, split.valid_negatives
    rng = np.random.default_rng(0)
    if len(valid) > max_rows:  # bound the features (rows x candidates x members floats): a seeded sample of rows
        keep = np.zeros(len(valid), dtype=bool)
        keep[rng.choice(len(valid), max_rows, replace=False)] = True
        valid, negatives = rows_of(valid, negatives, keep)
    if negatives is None:  # as many as every validation user has unseen items, up to n_negatives
        seen = [p for p in (split.train, split.valid, split.dislikes) if p is not None]
        n_negatives = min(n_negatives, int(unseen_counts(valid.users, seen).min()))
        if n_negatives < 1:
            log.info("blend combiner: a validation user has seen every item, no negatives to train on: linear weights kept")
            return
        negatives = sample_negatives(valid.users, seen, n_negatives, rng)
    dev = model.device
    users = torch.from_numpy(valid.users.astype(np.int64)).to(dev)
    cand = torch.cat([torch.from_numpy(valid.items.astype(np.int64))[:, None], torch.from_numpy(np.asarray(negatives, dtype=np.int64))], 1).to(dev)
    feats, linear = [], []
    for start in range(0, len(users), 512):
        u, c = users[start : start + 512], cand[start : start + 512]
        rows = [r.gather(1, c) for r in model.member_scores(u)]
        feats.append(model.combiner_features(u, rows, c).cpu())
        linear.append(torch.einsum("k,kbc->bc", model.weights[1:], torch.stack(rows)).cpu())
    features, linear_scores = torch.cat(feats), torch.cat(linear)

    def ndcg(scores: torch.Tensor) -> float:
        return float(hit_ndcg(sampled_rank(scores[:, 0], scores[:, 1:]))["ndcg@10"].mean())

    hidden = model.config.combiner_hidden
    fold_of_user = torch.from_numpy(np.random.default_rng(1).permutation(model.config.n_users) % folds)
    fold = fold_of_user[users.cpu()]
    held_out = torch.zeros_like(linear_scores)
    for f in range(folds):
        inside = fold == f
        if inside.all() or not inside.any():
            continue
        held_out[inside] = train_combiner(features[~inside], hidden, seed=f).forward(features[inside]).squeeze(-1)
    cv, lin = ndcg(held_out), ndcg(linear_scores)
    model.keep("use_combiner", torch.tensor(cv > lin))
    if cv > lin:
        model.combiner.load_state_dict(train_combiner(features, hidden, seed=folds).state_dict())
        total.valid_metric, total.best_valid = "valid_ndcg@10", cv  # cross-validated: out of fold
    log.info("blend combiner: %d-fold valid NDCG@10 %.4f against the linear blend's %.4f on the same candidates: %s",
             folds, cv, lin, "combiner kept" if cv > lin else "linear weights kept")


def cold_items_last(scores: torch.Tensor, warm: torch.Tensor) -> torch.Tensor:
    """Ranking scores ``(B, n_items)`` with the items that have no training data (``~warm``) put
    below every item that has some, in place."""
    if not warm.all():
        scores[:, ~warm] = scores[:, warm].min(1, keepdim=True).values - 1
    return scores


def standardize(scores: torch.Tensor, over: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row ``(s - mean) / std`` (a constant row becomes zeros); ``over (n_items,)`` bool: the
    columns the mean and std are taken over (default: all)."""
    part = scores if over is None else scores[:, over]
    mean = part.mean(1, keepdim=True)
    std = part.std(1, keepdim=True)
    return (scores - mean) / torch.where(std > 0, std, torch.ones_like(std))


def combiner_network(n_features: int, hidden: int) -> nn.Module:
    """The combiner: one tanh layer over the per-(user, item) features, a score out."""
    return nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, 1))


def train_combiner(features: torch.Tensor, hidden: int, seed: int = 0, epochs: int = 20, lr: float = 1e-2,
                   weight_decay: float = 1e-3, batch_size: int = 256) -> nn.Module:
    """A combiner fitted to ``features (R, C, f)``: per row, candidate 0 is the held-out item and
    the others its negatives; the loss is the softmax cross-entropy of candidate 0 (listwise, as the
    protocol ranks). Adam; the defaults were chosen by 5-fold cross-validation on ncf-ml-1m's
    validation part (hidden 8 or 32, weight decay 0 or 1e-3, 5 or 20 epochs). Seeded, and leaves the
    global random state as it was."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = combiner_network(features.shape[-1], hidden)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        target = torch.zeros(batch_size, dtype=torch.long)
        with torch.enable_grad():
            for _ in range(epochs):
                for batch in torch.randperm(len(features)).split(batch_size):
                    loss = nn.functional.cross_entropy(net(features[batch]).squeeze(-1), target[: len(batch)])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
    return net.eval()


def simplex_grid(k: int, step: float = 0.1) -> torch.Tensor:
    """Every weight vector of ``k`` non-negative multiples of ``step`` summing to 1, ``(n, k)``."""
    n = round(1 / step)

    def parts(k: int, total: int):
        if k == 1:
            yield (total,)
            return
        for first in range(total, -1, -1):
            for rest in parts(k - 1, total - first):
                yield (first, *rest)

    return torch.tensor(list(parts(k, n)), dtype=torch.float32) / n


__all__ = ["CachedBlend", "cold_items_last", "combiner_network", "fit_blend", "fit_combiner", "fit_ranking_weights", "simplex_grid",
           "standardize", "train_combiner"]
