"""Top-K retrieval: exact scoring with seen-item filtering, similar items, fold-in, ANN, ranked lists."""

from deeprecs.retrieval.listing import ranked, ranked_indices
from deeprecs.retrieval.topk import similar_items, top_k, topk

__all__ = ["ranked", "ranked_indices", "similar_items", "top_k", "topk"]
