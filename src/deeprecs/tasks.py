"""Training tasks: what turns training data into mini-batch losses for the loop (:mod:`deeprecs.training`).

A task holds its data on the training device and has ``__len__`` (rows per epoch), ``weights``
(how often each row is drawn, or ``None``), ``prepare(model)`` (before the first step) and
``loss(model, idx, generator) -> scalar tensor`` for a batch of row indices. A model picks its
task (:meth:`deeprecs.models.base.Recommender.make_task`); these are the two standard ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from deeprecs.batch import Batch
from deeprecs.data.weighting import row_weights
from deeprecs.errors import ConfigError
from deeprecs.losses import get_loss, mse, warp_choice
from deeprecs.sampling import NegativeSampler

if TYPE_CHECKING:
    from deeprecs.data.interactions import Interactions
    from deeprecs.models.base import Recommender
    from deeprecs.training import TrainConfig


class RatingTask:
    """Regression on explicit ratings: MSE plus the model's per-example regularisation."""

    name = "rating"
    weights = None

    def __init__(self, train: Interactions, device: torch.device | str = "cpu") -> None:
        if train.ratings is None:
            raise ConfigError("the rating task needs ratings; this data is positive-only (use --task ranking)")
        self.users = torch.from_numpy(train.users).to(device)
        self.items = torch.from_numpy(train.items).to(device)
        self.ratings = torch.from_numpy(train.ratings).to(device)
        self.mean = float(train.ratings.mean())

    def __len__(self) -> int:
        return len(self.users)

    def prepare(self, model: Recommender) -> None:
        model.rating_offset.fill_(self.mean if model.centered else 0.0)

    def loss(self, model: Recommender, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        batch = Batch(self.users[idx], self.items[idx])
        return mse(model(batch), self.ratings[idx]) + model.regularization(batch)


class RankingTask:
    """Positives against sampled negatives with a ranking loss (bce, bpr, margin, warp, softmax)."""

    name = "ranking"

    def __init__(self, train: Interactions, cfg: TrainConfig, device: torch.device | str = "cpu") -> None:
        self.users = torch.from_numpy(train.users).to(device)
        self.items = torch.from_numpy(train.items).to(device)
        w = row_weights(train, cfg.recency, cfg.recency_scale, cfg.confidence)
        #: how often each positive is drawn per epoch, relative: its confidence times its recency
        #: boost (None: each once, in a random order)
        self.weights = None if w is None else torch.from_numpy(w).to(device)
        self.loss_name = cfg.loss
        self.loss_fn = get_loss("ranking", cfg.loss)
        kind = "hard" if cfg.loss == "warp" and cfg.sampler == "uniform-excl" else cfg.sampler
        self.sampler = NegativeSampler.of(train, kind, cfg.sampler_alpha, device)
        # WARP scores several candidates per positive and trains on the first that violates the margin.
        self.n_neg = max(cfg.n_negatives, 16) if cfg.loss == "warp" else cfg.n_negatives
        self.margin = cfg.margin
        self.n_items = train.n_items

    def __len__(self) -> int:
        return len(self.users)

    def prepare(self, model: Recommender) -> None:
        model.rating_offset.zero_()

    def loss(self, model: Recommender, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        u, i = self.users[idx], self.items[idx]
        neg = self.sampler.sample(u, self.n_neg, generator)  # (B, n)
        if self.loss_name == "warp":
            pos_s, neg_s = self._warp_scores(model, u, i, neg)
        else:
            scores = model.score_candidates(Batch(u, torch.cat([i.unsqueeze(1), neg], 1)))  # (B, 1 + n)
            pos_s, neg_s = scores[:, 0], scores[:, 1:]
        reg = model.regularization(Batch(u, i))
        return self.loss_fn(pos_s, neg_s, margin=self.margin, n_items=self.n_items) + reg

    def _warp_scores(self, model: Recommender, u: torch.Tensor, i: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """WARP's gradient flows through the positive and its first violator only: score the
        candidates without autograd, then re-score those two with it. Same loss and gradients
        as scoring all with autograd; the backward pass covers 2 pairs per positive, not 1 + n."""
        with torch.no_grad():
            scores = model.score_candidates(Batch(u, torch.cat([i.unsqueeze(1), neg], 1)))  # (B, 1 + n)
            first, _ = warp_choice(scores[:, 0], scores[:, 1:], self.margin, self.n_items)
        picked = model.score_candidates(Batch(u, torch.stack([i, neg.gather(1, first.unsqueeze(1)).squeeze(1)], 1)))  # (B, 2)
        return picked[:, 0], scores[:, 1:].scatter(1, first.unsqueeze(1), picked[:, 1:])


__all__ = ["RankingTask", "RatingTask"]
