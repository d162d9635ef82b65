"""k-means over a run's item (or user) vectors, each cluster described by its most popular items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deeprecs.errors import ConfigError
from deeprecs.runs import Run


@dataclass
class Cluster:
    """``members``: indices in the cluster; ``top_items``: item indices most popular in it
    (train interactions of its items, or of its users' items for user clusters), with counts."""

    label: int
    members: np.ndarray
    top_items: np.ndarray
    top_counts: np.ndarray


def cluster_run(run: Run, n_clusters: int = 20, users: bool = False, top: int = 5, seed: int = 0) -> list[Cluster]:
    """k-means (scikit-learn) on the run's item (``users=True``: user) embeddings; clusters
    largest first."""
    from sklearn.cluster import KMeans

    emb = run.model.user_embeddings() if users else run.model.item_embeddings()
    if emb is None:
        raise ConfigError(f"model {run.model.name!r} has no {'user' if users else 'item'} embeddings to cluster")
    x = emb.detach().float().cpu().numpy()
    if not 1 <= n_clusters <= len(x):
        raise ConfigError(f"number of clusters must be between 1 and {len(x)}, got {n_clusters}")
    labels = KMeans(n_clusters, n_init=4, random_state=seed).fit_predict(x)
    n_items = len(run.item_map)
    counts = np.bincount(run.train.items, minlength=n_items)
    out = []
    for label in range(n_clusters):
        members = np.flatnonzero(labels == label)
        if users:  # item popularity among this cluster's users
            cluster_counts = np.asarray((run.seen[members] != 0).sum(axis=0)).ravel().astype(np.int64)
            candidates = np.flatnonzero(cluster_counts)
            pop = cluster_counts[candidates]
        else:
            candidates, pop = members, counts[members]
        order = np.argsort(-pop, kind="stable")[:top]
        out.append(Cluster(label, members, candidates[order], pop[order]))
    return sorted(out, key=lambda c: -len(c.members))


__all__ = ["Cluster", "cluster_run"]
