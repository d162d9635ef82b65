"""Known dislikes ranked last: a score function's wrapper, used by evaluation and validation.

With ``--positive R`` the train ratings below ``R`` are not positives, yet they are known: the
user saw the item and did not like it. The positive-only AUC protocol (PROTOCOLS.md) keeps such
items as candidates (negatives), and a recommender should put them where the user would: at
the bottom (serving never shows them; see :attr:`deeprecs.runs.Run.seen`). These wrappers give
each known dislike a score below every other candidate of its user (the batch's lowest score
minus one: finite, so metrics never meet an infinity), leaving all other scores unchanged.
"""

from __future__ import annotations

from typing import Callable

import scipy.sparse as sp
import torch

from deeprecs.evaluation.masks import rows_mask
from deeprecs.pairs import PairSet

ScoreAll = Callable[[torch.Tensor], torch.Tensor]
ScorePairs = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _floor(scores: torch.Tensor) -> torch.Tensor:
    return scores.min().detach() - 1.0 if scores.numel() else torch.zeros((), dtype=scores.dtype)


def dislikes_last(score_all: ScoreAll, dislikes: sp.csr_matrix | None) -> ScoreAll:
    """``score_all(users) -> (B, n_items)`` with each user's disliked items (the stored entries
    of their row of ``dislikes``, ``(n_users, n_items)``) below every other item; ``score_all``
    itself when there are none."""
    if dislikes is None or dislikes.nnz == 0:
        return score_all

    def score(users: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        scores = score_all(users, *args, **kwargs)
        mask = rows_mask(dislikes, users, device=scores.device)
        return scores.masked_fill(mask, float(_floor(scores))) if mask.any() else scores

    return score


def dislikes_last_pairs(forward: ScorePairs, dislikes: sp.csr_matrix | None) -> ScorePairs:
    """``forward(users, items) -> (N,)`` scores of pairs, with known dislikes below every other
    pair of the call (the sampled protocol's candidates)."""
    if dislikes is None or dislikes.nnz == 0:
        return forward
    coo = dislikes.tocoo()
    pairs = PairSet.from_pairs(coo.row, coo.col, dislikes.shape[1])

    def score(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        scores = forward(users, items)
        mask = torch.from_numpy(pairs.contains(users.cpu().numpy(), items.cpu().numpy())).to(scores.device)
        return scores.masked_fill(mask, float(_floor(scores))) if mask.any() else scores

    return score
