"""A model as the evaluation protocols see it: score functions on the model's device, never the model.

:mod:`deeprecs.evaluation` takes ``score_fn(users) -> (B, n_items)`` and ``predict_fn(users, items)``
on host tensors; these adapters move each batch to the model's device, build its
:class:`~deeprecs.batch.Batch`, and put known dislikes last. :func:`evaluate` gives a run's test
metrics, :func:`validator` a validation metric for early stopping and choices.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from deeprecs.batch import Batch
from deeprecs.data.interactions import Interactions
from deeprecs.devices import float64_ok
from deeprecs.evaluation.dislikes import dislikes_last, dislikes_last_pairs
from deeprecs.evaluation.protocols import evaluate_ranking, evaluate_ratings, evaluate_sampled
from deeprecs.evaluation.sampled import hit_ndcg, sampled_rank
from deeprecs.models.base import Recommender

RANK_KS = (5, 10, 20)


def rating_range(values: np.ndarray | None) -> tuple[float, float] | None:
    """``(lowest, highest)`` valid rating, the range predictions are clamped to."""
    return None if values is None else (float(np.min(values)), float(np.max(values)))


def score_fn(model: Recommender, dislikes: Interactions | None = None):  # noqa: ANN201
    """``users (B,) -> (B, n_items)`` scores of every item, on the model's device; known
    ``dislikes`` below every other item of their user."""
    def score(users: torch.Tensor, *_args) -> torch.Tensor:
        scores = model.score_all(Batch(users.to(model.device)))
        return scores if float64_ok(scores.device) else scores.cpu()  # the metrics add up in float64
    return dislikes_last(score, None if dislikes is None else dislikes.tocsr())


def pair_fn(model: Recommender):  # noqa: ANN201
    """``(users (N,), items (N,)) -> (N,)`` scores of pairs, on the model's device."""
    def score(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return model(Batch(users.to(model.device), items.to(model.device)))
    return score


def predict_fn(model: Recommender, bounds: tuple[float, float] | None):  # noqa: ANN201
    """Predicted ratings of pairs, clamped to ``bounds``."""
    pairs = pair_fn(model)

    def predict(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        p = pairs(users, items)
        return p.clamp(*bounds) if bounds else p
    return predict


def evaluate(model: Recommender, task: str, train: Interactions, test: Interactions, negatives: np.ndarray | None = None,
             rating_values: np.ndarray | None = None, dislikes: Interactions | None = None, cold_candidates: bool = False) -> dict:
    """The test metrics of a run (flat dict), by task and protocol. ``dislikes``: the users'
    known dislikes (:attr:`Split.dislikes`), ranked last (:mod:`deeprecs.evaluation.dislikes`);
    ``cold_candidates`` (a cold-items split, ranking): the metrics again, prefixed ``cold_``, with
    only the items that have no training row as candidates."""
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        if task == "rating":
            metrics = evaluate_ratings(predict_fn(model, rating_range(rating_values)), test, rating_values)
            seen_u, seen_i = train.user_counts() > 0, train.item_counts() > 0
            metrics["n_test"] = len(test)
            metrics["n_test_cold_users"] = int((~seen_u[test.users]).sum())
            metrics["n_test_cold_items"] = int((~seen_i[test.items]).sum())
        elif negatives is not None:
            metrics = evaluate_sampled(score_fn(model, dislikes), train, test, negatives, ks=(10,))
        else:
            metrics = evaluate_ranking(score_fn(model, dislikes), train, test, ks=RANK_KS)
            cold = train.item_counts() == 0
            if cold_candidates and cold.any():  # a cold-items split: the same metrics among the items without training data
                metrics.update({f"cold_{k}": v for k, v in evaluate_ranking(score_fn(model, dislikes), train, test, ks=RANK_KS,
                                                                         candidates=cold).items()})
    metrics["eval_seconds"] = time.perf_counter() - t0
    return metrics


def validator(task: str, train: Interactions, valid: Interactions, valid_neg: np.ndarray | None,
              rating_values: np.ndarray | None, dislikes: Interactions | None = None, cold_candidates: bool = False):  # noqa: ANN201
    """``(validate(model) -> float, metric name, higher_is_better)`` on validation data only
    (known ``dislikes`` ranked last, as in :func:`evaluate`; ``cold_candidates``: AUC among the
    items with no training row, a cold-items split's)."""
    if task == "rating":
        rr = rating_range(rating_values)
        return (lambda m: evaluate_ratings(predict_fn(m, rr), valid)["rmse"]), "valid_rmse", False
    if valid_neg is not None:  # candidates only: a full score_all of an MLP scorer costs ~30x more
        return (lambda m: sampled_candidates(m, valid, valid_neg, dislikes=dislikes)["ndcg@10"]), "valid_ndcg@10", True
    cold = train.item_counts() == 0 if cold_candidates else None
    if cold is not None and cold.any():
        return (lambda m: evaluate_ranking(score_fn(m, dislikes), train, valid, ks=(10,), candidates=cold)["auc"]), "valid_cold_auc", True
    return (lambda m: evaluate_ranking(score_fn(m, dislikes), train, valid, ks=(10,))["auc"]), "valid_auc", True


@torch.no_grad()
def sampled_candidates(model: Recommender, part: Interactions, negatives: np.ndarray, k: int = 10, batch_size: int = 1024,
                       dislikes: Interactions | None = None) -> dict[str, float]:
    """``hr@k``/``ndcg@k`` of the leave-one-out protocol with sampled negatives, scoring only
    the candidates (item + its negatives) as pairs; the same ranks as
    :func:`~deeprecs.evaluation.protocols.evaluate_sampled`, without its full-ranking half. Known
    ``dislikes`` ranked last."""
    model.eval()
    forward = dislikes_last_pairs(pair_fn(model), None if dislikes is None else dislikes.tocsr())
    sums = {f"hr@{k}": 0.0, f"ndcg@{k}": 0.0}
    for start in range(0, len(part), batch_size):
        users = torch.from_numpy(part.users[start : start + batch_size])
        items = torch.from_numpy(part.items[start : start + batch_size])
        neg = torch.from_numpy(np.asarray(negatives[start : start + batch_size], dtype=np.int64))
        cand = torch.cat([items.unsqueeze(1), neg], 1)  # (B, 1 + n_neg)
        scores = forward(users.repeat_interleave(cand.shape[1]), cand.flatten()).view(cand.shape).float()
        for name, values in hit_ndcg(sampled_rank(scores[:, 0], scores[:, 1:]), (k,)).items():
            sums[name] += float(values.sum())
    return {name: value / max(len(part), 1) for name, value in sums.items()}


__all__ = ["RANK_KS", "evaluate", "pair_fn", "predict_fn", "rating_range", "sampled_candidates", "score_fn", "validator"]
