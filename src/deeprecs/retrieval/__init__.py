"""Top-K retrieval: exact scoring with seen-item filtering, similar items, fold-in, ANN."""

from deeprecs.retrieval.topk import similar_items, topk

__all__ = ["similar_items", "topk"]
