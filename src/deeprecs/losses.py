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
    """WARP (Weston et al. 2011), batched: ``neg`` holds ``n`` candidate negatives per positive.

    Among the candidates that violate the margin, the hardest one is trained on; the pair is
    weighted by ``L(rank) = sum_{k=1..rank} 1/k`` of the positive's estimated rank
    ``rank ~ (n_items - 1) * violators / n`` — a positive beaten by many items moves more.
    Pairs with no violator contribute nothing.
    """
    n = neg.shape[1]
    viol = margin + neg - pos.unsqueeze(1)  # (B, n)
    n_viol = (viol > 0).sum(1)
    hardest = viol.max(1).values
    est_rank = torch.floor((max(n_items, n + 1) - 1) * n_viol.float() / n).clamp(min=1)
    weight = torch.log(est_rank) + 0.5772156649 + 1 / (2 * est_rank)  # harmonic number H(rank)
    weight = torch.where(n_viol > 0, weight, torch.zeros_like(weight))
    return (weight.detach() * F.relu(hardest)).sum() / max(len(pos), 1)


RANKING_LOSSES = {"bce": bce, "bpr": bpr, "margin": margin, "warp": warp}
RATING_LOSSES = {"mse": mse}
TASK_LOSSES = {"rating": tuple(RATING_LOSSES), "ranking": tuple(RANKING_LOSSES)}


def get_loss(task: str, name: str):
    table = RATING_LOSSES if task == "rating" else RANKING_LOSSES
    if name not in table:
        raise ConfigError(f"loss {name!r} does not fit task {task!r}; choose one of: {', '.join(table)}")
    return table[name]
