"""Metrics over ranked lists and rating predictions, and the protocol drivers.

Metrics see scores, masks and ids, never a model. Definitions: ``/PROTOCOLS.md``.
"""

from deeprecs.evaluation.auc import auc, auc_per_user
from deeprecs.evaluation.protocols import evaluate_ranking, evaluate_ratings, evaluate_sampled
from deeprecs.evaluation.ranking import ranking_metrics
from deeprecs.evaluation.ratings import mae, mae_rounded, rating_metrics, rmse, round_to_values
from deeprecs.evaluation.sampled import full_rank, hit_ndcg, sampled_rank

__all__ = [
    "auc",
    "auc_per_user",
    "evaluate_ranking",
    "evaluate_ratings",
    "evaluate_sampled",
    "full_rank",
    "hit_ndcg",
    "mae",
    "mae_rounded",
    "rating_metrics",
    "ranking_metrics",
    "rmse",
    "round_to_values",
    "sampled_rank",
]
