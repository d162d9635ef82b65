"""What the HTTP routes do, without HTTP: answers as JSON-ready dicts (or encoded bodies).

``RecService`` serves one run. A user's top-K comes from the store when its current export
was made from this very run (same run id) and holds at least ``k`` per user, else it is
computed live: exact (one matrix product + top-k) or, with ``ann``, from an HNSW index.
Encoded store answers are cached per ``(export version, user, k)``: they never change. A store
that cannot be read raises :class:`~deeprecs.store.StoreUnavailable` (the API's 503) rather than
falling back to live scoring: an outage of the store must not turn into a surprise load of
live scoring on every worker, nor into answers that differ from the export.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from deeprecs.errors import UnknownIdError
from deeprecs.retrieval import similar_items, topk
from deeprecs.retrieval.foldin import recommend_liked
from deeprecs.runs import Run
from deeprecs.store import RecStore, StoreUnavailable, run_id


def dumps(obj) -> bytes:  # noqa: ANN001
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class RecService:
    def __init__(self, run: Run, store: RecStore | None = None, ann: bool = False, cache_size: int = 100_000) -> None:
        self.run = run
        self.store = store
        self.run_id = run_id(run.path)
        raw = run.item_map.raw.tolist()
        self.item_raw = raw
        self.item_by_text = {str(r): r for r in raw}
        self.titles = [run.title(r) for r in raw]
        vectors = run.model.retrieval_vectors()
        self.gram = None
        if vectors is not None:
            v = vectors[1].detach().double()
            self.gram = v.T @ v
        # exact live path for factor models: numpy on float32 vectors, no batching machinery
        self.user_vectors = self.item_vectors = None
        if vectors is not None:
            self.user_vectors = np.ascontiguousarray(vectors[0].detach().numpy(), dtype=np.float32)
            self.item_vectors = np.ascontiguousarray(vectors[1].detach().numpy(), dtype=np.float32)
            self.constant = float(run.model.score_constant())
        self.ann = None
        if ann:
            from deeprecs.retrieval.ann import HNSWIndex

            self.ann = HNSWIndex.from_model(run.model)
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self.cache_size = cache_size

    # ------------------------------------------------------------------ users
    def user_body(self, user_id: str, k: int) -> bytes:
        """Encoded ``UserRecommendations``; :class:`UnknownIdError` for an unknown user."""
        u = self.run.user_map.index(user_id)
        if self.store is not None:
            body = self._from_store(user_id, u, k)
            if body is not None:
                return body
        items, scores = self._live(u, k)
        recs = [self._rec(n, i, s) for n, (i, s) in enumerate(zip(items.tolist(), scores.tolist())) if i >= 0]
        return dumps({"user": self._py(self.run.user_map.raw[u]), "k": k, "source": "ann" if self.ann else "live",
                      "version": None, "recommendations": recs})

    def _from_store(self, user_id: str, u: int, k: int) -> bytes | None:
        info = self.store.current()
        if info is None or info.run_id != self.run_id:
            return None
        key = (info.version, user_id, k)
        body = self._cache.get(key)
        if body is not None:
            self._cache.move_to_end(key)
            return body
        hit = self.store.lookup(user_id, k)
        if hit is None or hit[0].run_id != self.run_id:
            return None
        info, rows = hit
        titles = self.store.titles(info.version)
        recs = [{"rank": n + 1, "item": self.item_by_text.get(i, i), "score": float(np.float32(s)), "title": titles.get(i, "")}
                for n, (i, s) in enumerate(rows)]
        body = dumps({"user": self._py(self.run.user_map.raw[u]), "k": k, "source": "store",
                      "version": info.version, "recommendations": recs})
        self._cache[(info.version, user_id, k)] = body
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return body

    def _live(self, u: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.ann is not None:
            items, scores = self.ann.search(self.user_vectors[u : u + 1], k, exclude=self.run.seen[u : u + 1])
        elif self.item_vectors is not None:
            return self._live_exact(u, k)
        else:
            items, scores = topk(self.run.model, np.array([u]), k, exclude=self.run.seen)
        return items[0], scores[0]

    def _live_exact(self, u: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """One user's exact top-``k`` unseen: a matrix-vector product and a partial sort."""
        scores = self.item_vectors @ self.user_vectors[u] + np.float32(self.constant)
        seen = self.run.seen
        scores[seen.indices[seen.indptr[u] : seen.indptr[u + 1]]] = -np.inf
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        top_scores = scores[top]
        return np.where(np.isneginf(top_scores), -1, top), top_scores

    # ------------------------------------------------------------------ items
    def similar(self, item_id: str, k: int) -> dict:
        i = self.run.item_map.index(item_id)
        found, sims = similar_items(self.run.model, np.array([i]), k)
        return {"item": self.item_raw[i], "title": self.titles[i], "k": k,
                "similar": [{"rank": n + 1, "item": self.item_raw[j], "similarity": float(s), "title": self.titles[j]}
                            for n, (j, s) in enumerate(zip(found[0].tolist(), sims[0].tolist()))]}

    def liked(self, liked: Sequence, k: int) -> dict:
        """Fold-in recommendations for an anonymous user who likes ``liked`` (raw item ids)."""
        idx = [self.run.item_map.index(x) for x in liked]
        items, scores = recommend_liked(self.run.model, [sorted(set(idx))], k, gram=self.gram)
        recs = [self._rec(n, i, s) for n, (i, s) in enumerate(zip(items[0].tolist(), scores[0].tolist())) if i >= 0]
        return {"liked": [self.item_raw[i] for i in idx], "k": k, "source": "fold-in", "recommendations": recs}

    # ------------------------------------------------------------------ model
    def info(self) -> dict:
        """The model, and the store's state: this route answers while the store is unavailable."""
        current, state = None, None
        if self.store is not None:
            try:
                current, state = self.store.current(), "ok"
            except StoreUnavailable:
                state = "unavailable"
        matching = current is not None and current.run_id == self.run_id
        config = self.run.config
        return {"model": config.get("model", self.run.model.name), "dataset": str(config.get("dataset", config.get("data", ""))),
                "run": str(self.run.path), "run_id": self.run_id, "n_users": len(self.run.user_map),
                "n_items": len(self.run.item_map), "metrics": self.run.metrics, "ann": self.ann is not None,
                "export_version": current.version if matching else None, "export_k": current.k if matching else None,
                "store": state}

    # ------------------------------------------------------------------ helpers
    def _rec(self, n: int, i: int, s: float) -> dict:
        return {"rank": n + 1, "item": self.item_raw[i], "score": float(np.float32(s)), "title": self.titles[i]}

    @staticmethod
    def _py(value):  # noqa: ANN001, ANN205
        return value.item() if hasattr(value, "item") else value


__all__ = ["RecService", "UnknownIdError", "dumps"]
