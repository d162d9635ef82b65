"""Training tasks: what turns training data into mini-batch losses for the loop (:mod:`deeprecs.training`).

A task holds its data on the training device and has ``__len__`` (rows per epoch), ``weights``
(how often each row is drawn, or ``None``), ``prepare(model)`` (before the first step) and
``loss(model, idx, generator) -> scalar tensor`` for a batch of row indices. A model picks its
task (:meth:`deeprecs.models.base.Recommender.make_task`): ratings, ranking pairs, or sequences.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch
from torch.nn import functional as F

from deeprecs.batch import Batch
from deeprecs.data.sequences import history_windows
from deeprecs.data.weighting import row_weights
from deeprecs.errors import ConfigError
from deeprecs.losses import FULL_LOSSES, SHARED_LOSSES, cross_entropy, full_softmax, get_loss, mse, warp_choice
from deeprecs.masking import UserItems, first_positions, leave_out, read_before
from deeprecs.sampling import NegativeSampler, popularity_probs

if TYPE_CHECKING:
    from deeprecs.data.interactions import Interactions
    from deeprecs.models.base import Recommender
    from deeprecs.training import TrainConfig


class SharedNegatives:
    """The negatives of ``shared-softmax``: ``n_negatives`` items drawn once per step for the whole
    batch, with replacement, uniformly over the catalogue or, with ``--sampler popularity``, in
    proportion to ``count ** sampler_alpha`` (then the logQ correction matters; uniform draws make
    it a constant). ``draw(generator) -> items (n,)``; ``log_q[items]``: their log draw probabilities.
    A catalogue of no more than ``n_negatives`` items is not sampled: :func:`shared_for` gives the
    full softmax there (every item, exactly)."""

    def __init__(self, train: Interactions, cfg: TrainConfig, device: torch.device | str = "cpu") -> None:
        self.n, self.n_items = cfg.n_negatives, train.n_items
        self.probs = None
        if cfg.sampler == "popularity":
            self.probs = popularity_probs(np.bincount(train.items, minlength=train.n_items), cfg.sampler_alpha, device)
            self.log_q = self.probs.log()
        else:
            self.log_q = torch.full((train.n_items,), -float(np.log(max(train.n_items, 1))), device=device)

    def draw(self, generator: torch.Generator) -> torch.Tensor:
        if self.probs is None:
            return torch.randint(0, self.n_items, (self.n,), generator=generator, device=self.log_q.device)
        return torch.multinomial(self.probs, self.n, replacement=True, generator=generator)

    def loss(self, loss_fn, pos: torch.Tensor, neg: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor,  # noqa: ANN001
             exclude: torch.Tensor | None = None) -> torch.Tensor:
        """``loss_fn`` on the scores ``pos (N,)`` of ``positives (N,)`` and ``neg (N, n)`` of the drawn
        ``negatives (n,)``; ``exclude (N, n)``: negatives left out besides the accidental hits."""
        hits = positives.unsqueeze(1) == negatives.unsqueeze(0)
        if exclude is not None:
            hits = hits | exclude
        return loss_fn(pos, neg, hits=hits, pos_log_q=self.log_q[positives], neg_log_q=self.log_q[negatives])


def shared_for(train: Interactions, cfg: TrainConfig, device: torch.device | str = "cpu") -> tuple[SharedNegatives | None, bool]:
    """``(shared negatives or None, full softmax?)`` for ``cfg.loss``: ``shared-softmax`` over a
    catalogue of at most ``n_negatives`` items is the full softmax (a sample would only repeat items)."""
    full = cfg.loss in FULL_LOSSES or (cfg.loss in SHARED_LOSSES and cfg.n_negatives >= train.n_items)
    return (SharedNegatives(train, cfg, device) if cfg.loss in SHARED_LOSSES and not full else None), full


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
    """Positives against sampled negatives with a ranking loss (bce, bpr, margin, warp, softmax),
    or against every item (full-softmax)."""

    name = "ranking"

    def __init__(self, train: Interactions, cfg: TrainConfig, device: torch.device | str = "cpu") -> None:
        if cfg.mask_seen or cfg.mask_history or cfg.label_smoothing:
            raise ConfigError("--mask-seen, --mask-history and --label-smoothing are options of the models that read histories (the sequence task), "
                              "not of this one")
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
        self.shared, self.full = shared_for(train, cfg, device)

    def __len__(self) -> int:
        return len(self.users)

    def prepare(self, model: Recommender) -> None:
        model.rating_offset.zero_()

    def loss(self, model: Recommender, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        u, i = self.users[idx], self.items[idx]
        if self.shared is not None:  # the same negatives for every row of the batch
            shared = self.shared.draw(generator)
            scores = model.score_candidates(Batch(u, torch.cat([i.unsqueeze(1), shared.expand(len(u), -1)], 1)))
            return self.shared.loss(self.loss_fn, scores[:, 0], scores[:, 1:], i, shared) + model.regularization(Batch(u, i))
        if self.full:  # every item: the catalogue is the negatives
            neg_s = model.score_all(Batch(u))
            pos_s = neg_s.gather(1, i.unsqueeze(1)).squeeze(1)
            return full_softmax(pos_s, neg_s) + model.regularization(Batch(u, i))
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


class SequenceTask:
    """Next-item prediction along each user's history (SASRec, GRU4Rec), for a model with
    ``sequence_states(history (B, L), times (B, L) | None) -> (B, L, d)`` (causal: position ``t``
    reads items ``<= t``; ``times``: the items' timestamps, kept with ``times``)
    and ``score_states(states (N, d), items (N, m) | None) -> (N, m) | (N, n_items)``.

    A row is ``max_len + 1`` consecutive items of one user in time order: their latest, and with
    ``every`` the earlier parts of a longer history too (:func:`deeprecs.data.sequences.history_windows`);
    the model reads the first ``max_len`` and each position predicts the item after it, padding
    masked. Losses: ``bce`` (SASRec's: each next item against ``n_negatives`` sampled negatives,
    one in the paper), ``softmax`` (sampled softmax over the same), ``shared-softmax`` (sampled
    softmax over ``n_negatives`` items drawn once per step for every position of the batch,
    :class:`SharedNegatives`), ``full-softmax`` (cross-entropy over every item), or any other
    ranking loss over sampled negatives. With ``mask_seen`` the items of the row up to a position
    (what it has read) are no negatives of that position (score ``-inf``), its own target excepted;
    with ``mask_history`` every item of the user's training history is none (:mod:`deeprecs.masking`)."""

    name = "sequence"
    weights = None
    #: batches sorted by length together (:meth:`batches`)
    POOL = 16

    def __init__(self, train: Interactions, cfg: TrainConfig, max_len: int, device: torch.device | str = "cpu",
                 every: bool = True, times: bool = False) -> None:
        rows, users, *stamps = history_windows(train, max_len + 1, every, times)  # each: at least one item to read and one to predict
        rows = torch.from_numpy(rows)
        self.users = torch.from_numpy(users).to(device)
        self.inputs = rows[:, :-1].to(device)  # (R, max_len), left-padded with -1
        self.times = torch.from_numpy(stamps[0][:, :-1]).to(device) if times else None  # the inputs' timestamps
        self.targets = rows[:, 1:].to(device)  # the item after each input position
        self.lengths = (self.inputs >= 0).sum(1)
        self.loss_name = cfg.loss
        self.loss_fn = get_loss("ranking", cfg.loss)
        self.shared, self.full = shared_for(train, cfg, device)
        per_row = not self.full and self.shared is None
        self.sampler = NegativeSampler.of(train, cfg.sampler, cfg.sampler_alpha, device) if per_row else None
        self.n_neg, self.margin, self.n_items = cfg.n_negatives, cfg.margin, train.n_items
        self.mask_seen, self.smoothing = cfg.mask_seen, cfg.label_smoothing
        self.user_items = UserItems.of(train, device) if cfg.mask_history else None
        if self.smoothing and not self.full:
            raise ConfigError(f"--label-smoothing smooths the full softmax only, not loss {cfg.loss!r} over "
                              f"{cfg.n_negatives} negatives of {train.n_items} items")

    def __len__(self) -> int:
        return len(self.users)

    def prepare(self, model: Recommender) -> None:
        model.rating_offset.zero_()

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """One epoch of rows in batches of like lengths, so that little of a batch is padding: a
        random permutation, sorted by length within pools of ``POOL`` batches, cut into batches
        that come in a random order."""
        n = len(self)
        perm = torch.randperm(n, generator=generator, device=generator.device)
        pool = torch.arange(n, device=perm.device) // (batch_size * self.POOL)
        perm = perm[torch.argsort(pool * (self.inputs.shape[1] + 1) + self.lengths[perm], stable=True)]
        chunks = perm.split(batch_size)
        for c in torch.randperm(len(chunks), generator=generator, device=generator.device).tolist():
            yield chunks[c]

    def loss(self, model: Recommender, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        inputs, targets = self.inputs[idx], self.targets[idx]
        times = self.times[idx] if self.times is not None else None
        if inputs.device.type == "cpu":  # drop the columns that are padding in every row (elsewhere: a wait for the host)
            width = max(int((inputs >= 0).sum(1).max()), 1)
            inputs, targets = inputs[:, -width:], targets[:, -width:]
            times = times[:, -width:] if times is not None else None
        mask = inputs >= 0  # where an input item is, the item after it is too
        users, masked = self.users[idx], self.mask_seen or self.user_items is not None
        if self.full and self.user_items is not None:
            return self._full_without_history(model, inputs, times, targets, mask, users)
        states = model.sequence_states(inputs, times)[mask]  # (N, d)
        positives = targets[mask]  # (N,)
        seen = self._seen(inputs, mask, users) if masked and not self.full else None
        if self.full:  # full-softmax over (N, n_items)
            scores = model.score_states(states)
            if masked:  # the target stays in where it was read before too
                read = read_before(inputs, mask)
                leave_out(scores, positives.unsqueeze(1), 1, lambda s: s.index_put_(read, torch.tensor(float("-inf"), device=s.device)))
            return cross_entropy(scores, positives, self.smoothing)
        if self.shared is not None:  # one draw for the batch: one (N, d) x (d, n) product scores them
            shared = self.shared.draw(generator)
            return self.shared.loss(self.loss_fn, model.score_states(states, positives.unsqueeze(1)).squeeze(1),
                                    model.score_states(states, shared), positives, shared, None if seen is None else seen(shared))
        negatives = self.sampler.sample(users.unsqueeze(1).expand_as(inputs)[mask], self.n_neg, generator)  # (N, n): none of the user's items
        scores = model.score_states(states, torch.cat([positives.unsqueeze(1), negatives], 1))
        neg = scores[:, 1:]
        if seen is not None:
            neg = neg.masked_fill(seen(negatives) & (negatives != positives.unsqueeze(1)), float("-inf"))
        return self.loss_fn(scores[:, 0], neg, margin=self.margin, n_items=self.n_items)

    def _full_without_history(self, model: Recommender, inputs: torch.Tensor, times: torch.Tensor | None, targets: torch.Tensor,
                              mask: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """The full softmax with every item of the row's user left out (its target kept), scored
        as ``(B, W, n_items)`` with the padding in: one user's mask ``(B, 1, n_items)`` serves all
        their positions (a broadcast, not a gather of ``(N, n_items)``), and the padding's rows are
        few (:meth:`batches`) and ignored by the loss."""
        b, width = inputs.shape
        scores = model.score_states(model.sequence_states(inputs, times).reshape(b * width, -1))  # (B W, n_items)
        target = torch.where(mask, targets, 0).unsqueeze(2)  # (B, W, 1); padding: any item, ignored below
        rows = scores.detach().view(b, width, -1)  # (an alias, not a view autograd would track and copy back)
        users_items = torch.zeros(b, 1, rows.shape[2], dtype=rows.dtype, device=rows.device)
        users_items.masked_fill_(self.user_items.table(users).unsqueeze(1), float("-inf"))
        leave_out(rows, target, 2, lambda s: s.add_(users_items))  # 10x a broadcast masked_fill_'s speed
        if self.smoothing:
            return cross_entropy(scores[mask.flatten()], targets[mask], self.smoothing)
        return F.cross_entropy(scores, torch.where(mask, targets, -100).flatten(), ignore_index=-100)

    def _seen(self, inputs: torch.Tensor, mask: torch.Tensor, users: torch.Tensor):  # noqa: ANN202
        """``seen(items) -> (N, m)``: whether each position (``inputs[mask]``) leaves out each of
        ``items`` (has read it; with ``mask_history``: its user has it): ``(n,)`` the same for
        every position, ``(N, n)`` each position's own."""
        first = first_positions(inputs, self.n_items) if self.user_items is None else self.user_items.first(users)  # (B, n_items)
        pos = torch.arange(inputs.shape[1], device=inputs.device).view(1, -1, 1)

        def seen(items: torch.Tensor) -> torch.Tensor:
            if items.dim() == 1:
                return (first[:, items].unsqueeze(1) <= pos)[mask]
            rows = torch.arange(len(inputs), device=inputs.device).unsqueeze(1).expand_as(inputs)[mask]
            return first[rows.unsqueeze(1), items] <= pos.squeeze(2).expand_as(inputs)[mask].unsqueeze(1)

        return seen


__all__ = ["RankingTask", "RatingTask", "SequenceTask", "SharedNegatives"]
