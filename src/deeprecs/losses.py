"""Losses, separate from models: any scorer trains with any loss its task allows.

Shapes: ``pred``/``target`` ``(B,)`` for ratings; ``pos (B,)`` scores of observed pairs and
``neg (B, n)`` scores of ``n`` sampled negatives per positive for ranking.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from deeprecs.errors import ConfigError


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target)


def bce(pos: torch.Tensor, neg: torch.Tensor, **_: float) -> torch.Tensor:
    """Log loss (NCF): positives labelled 1, each sampled negative 0; mean over all B*(1+n) pairs."""
    total = F.softplus(-pos).sum() + F.softplus(neg).sum()
    return total / (pos.numel() + neg.numel())


def bpr(pos: torch.Tensor, neg: torch.Tensor, **_: float) -> torch.Tensor:
    """Bayesian personalised ranking (Rendle et al. 2009): ``-log sigmoid(s_pos - s_neg)``."""
    return F.softplus(-(pos.unsqueeze(1) - neg)).mean()


def margin(pos: torch.Tensor, neg: torch.Tensor, margin: float = 1.0, **_: float) -> torch.Tensor:
    """Triplet hinge loss ``max(0, margin + s(u, neg) - s(u, pos))``, mean over triplets."""
    return F.relu(margin + neg - pos.unsqueeze(1)).mean()


def warp(pos: torch.Tensor, neg: torch.Tensor, margin: float = 1.0, n_items: int = 0, **_: float) -> torch.Tensor:
    """WARP (Weston et al. 2011), batched: ``neg`` holds ``n`` uniformly drawn candidates per
    positive, in the order they were drawn.

    As in the paper (and LightFM), the candidates are tried in turn: the **first** one that
    violates the margin is trained on, and ``N``, the number of tries it took, estimates the
    positive's rank as ``rank = floor((n_items - 1) / N)``; the pair's hinge
    ``margin + s_neg - s_pos`` is weighted by ``L(rank) = sum_{k=1..rank} 1/k``. A positive that
    is beaten at the first try is far down the list and moves a lot; one that takes many tries
    is near the top and moves little. Pairs with no violator among the ``n`` contribute nothing.
    (Training on the hardest of the ``n`` instead chases false negatives: on ML-100K ``ua`` it
    cost 0.06 AUC.)
    """
    first, weight = warp_choice(pos.detach(), neg.detach(), margin, n_items)
    hinge = margin + neg.gather(1, first.unsqueeze(1)).squeeze(1) - pos
    return (weight * F.relu(hinge)).sum() / max(len(pos), 1)


def warp_choice(pos: torch.Tensor, neg: torch.Tensor, margin: float = 1.0, n_items: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """WARP's pick, without gradients: ``(first (B,), weight (B,))``, the column of each row's
    first violator of the margin (0 where there is none) and its weight ``L(rank)`` (0 where
    there is none). Only that column gets a gradient, so a trainer may score the candidates
    without autograd and re-score just the picked one (:class:`deeprecs.training.RankingTask`)."""
    n = neg.shape[1]
    is_viol = margin + neg - pos.unsqueeze(1) > 0  # (B, n)
    found = is_viol.any(1)
    first = is_viol.float().argmax(1)  # index of the first violator (0 where there is none)
    rank = torch.floor((max(n_items, n + 1) - 1) / (first + 1).float()).clamp(min=1)
    weight = torch.log(rank) + 0.5772156649 + 1 / (2 * rank)  # harmonic number H(rank)
    return first, torch.where(found, weight, torch.zeros_like(weight))


def softmax(pos: torch.Tensor, neg: torch.Tensor, **_: float) -> torch.Tensor:
    """Sampled softmax: ``-log(exp(s_pos) / (exp(s_pos) + sum_j exp(s_neg_j)))``, mean over
    positives: the positive ranked against its ``n`` negatives at once (with uniform negatives
    the sampled protocol's own task, 1 positive among sampled items)."""
    logits = torch.cat([pos.unsqueeze(1), neg], 1)
    return (torch.logsumexp(logits, 1) - pos).mean()


def full_softmax(pos: torch.Tensor, neg: torch.Tensor, **_: float) -> torch.Tensor:
    """Full softmax (cross-entropy over the catalogue): ``neg (B, n_items)`` holds the scores of
    **every** item, the positive's included; ``logsumexp(neg) - pos``, mean over positives."""
    return (torch.logsumexp(neg, 1) - pos).mean()


def shared_softmax(pos: torch.Tensor, neg: torch.Tensor, hits: torch.Tensor | None = None,
                   pos_log_q: torch.Tensor | None = None, neg_log_q: torch.Tensor | None = None, **_: float) -> torch.Tensor:
    """Sampled softmax over negatives shared by the batch: ``neg (N, n)`` holds every row's scores
    of the **same** ``n`` items, drawn once per step (one matrix product scores them all). ``hits
    (N, n)``: a negative that is the row's own positive, left out (an accidental hit); ``pos_log_q
    (N,)`` and ``neg_log_q (n,)``: the log of each item's draw probability, subtracted from its
    score (the logQ correction of Yi et al. 2019: the sample then estimates the full softmax;
    a constant under uniform draws). ``logsumexp(pos', neg') - pos'``, mean over positives."""
    if pos_log_q is not None:
        pos, neg = pos - pos_log_q, neg - neg_log_q
    if hits is not None:
        neg = neg.masked_fill(hits, float("-inf"))
    logits = torch.cat([pos.unsqueeze(1), neg], 1)
    return (torch.logsumexp(logits, 1) - pos).mean()


def cross_entropy(scores: torch.Tensor, targets: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """:func:`full_softmax` from ``scores (B, n_items)`` of every item and the positives' indices
    ``targets (B,)`` (one fused pass: what a model that scores the catalogue at once uses).
    ``smoothing``: label smoothing, the target's weight ``1 - smoothing`` and ``smoothing`` spread
    evenly over the items whose score is finite (a ``-inf`` score: an item left out)."""
    if smoothing == 0:
        return F.cross_entropy(scores, targets)
    log_p = F.log_softmax(scores, 1)
    kept = torch.isfinite(scores)
    spread = -torch.where(kept, log_p, 0.0).sum(1) / kept.sum(1)
    return ((1 - smoothing) * -log_p.gather(1, targets.unsqueeze(1)).squeeze(1) + smoothing * spread).mean()


RANKING_LOSSES = {"bce": bce, "bpr": bpr, "margin": margin, "warp": warp, "softmax": softmax, "full-softmax": full_softmax,
                  "shared-softmax": shared_softmax}
#: losses that score every item rather than sampled negatives
FULL_LOSSES = ("full-softmax",)
#: losses whose negatives are drawn once per step and shared by the batch (:class:`deeprecs.tasks.SharedNegatives`)
SHARED_LOSSES = ("shared-softmax",)
RATING_LOSSES = {"mse": mse}
TASK_LOSSES = {"rating": tuple(RATING_LOSSES), "ranking": tuple(RANKING_LOSSES)}


def get_loss(task: str, name: str):
    table = RATING_LOSSES if task == "rating" else RANKING_LOSSES
    if name not in table:
        raise ConfigError(f"loss {name!r} does not fit task {task!r}; choose one of: {', '.join(table)}")
    return table[name]
