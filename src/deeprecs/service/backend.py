"""What the HTTP routes do, without HTTP: answers as JSON-ready dicts (or encoded bodies).

``RecService`` serves one run. A user's top-K comes from the store when its current export
was made from this very run (same run id) and holds at least ``k`` per user, else it is
computed live: exact (one matrix product + top-k) or, with ``ann``, from an HNSW index.
Encoded store answers are cached per ``(export version, user, k)``: they never change. A store
that cannot be read raises :class:`~deeprecs.store.StoreUnavailable` (the API's 503) rather than
falling back to live scoring: an outage of the store must not turn into a surprise load of
live scoring on every worker, nor into answers that differ from the export. Newcomers given by
features (a new user, a new item) are always scored live from the run: the store holds the run's
own users' lists, and a newcomer's answer depends on what it sends.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch

from deeprecs.errors import DeeprecsError, UnknownIdError
from deeprecs.models.base import reads_history
from deeprecs.retrieval import ranked, ranked_indices, similar_items, top_k, topk
from deeprecs.retrieval.foldin import recommend_liked
from deeprecs.retrieval.listing import py
from deeprecs.retrieval.newcomers import new_item_lists, new_user_lists, side_table
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
        self.titles = run.titles()
        with torch.no_grad():
            vectors = run.model.retrieval_vectors()
        self.gram = None
        # exact live path for factor models: one matrix-vector product on the model's device, no batching machinery
        self.user_vectors = self.item_vectors = None
        if vectors is not None:
            self.user_vectors, self.item_vectors = (v.detach().float().contiguous() for v in vectors)
            self.constant = float(run.model.score_constant())
            self.gram = self.item_vectors.double().T @ self.item_vectors.double() if self.item_vectors.device.type != "mps" else None
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
        return dumps({"user": py(self.run.user_map.raw[u]), "k": k, "source": "ann" if self.ann else "live",
                      "version": None, "recommendations": ranked_indices(items, scores, self.item_raw, self.titles)})

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
        recs = ranked([self.item_by_text.get(i, i) for i, _ in rows], [s for _, s in rows], [titles.get(i, "") for i, _ in rows])
        body = dumps({"user": py(self.run.user_map.raw[u]), "k": k, "source": "store",
                      "version": info.version, "recommendations": recs})
        self._cache[(info.version, user_id, k)] = body
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return body

    def _live(self, u: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.ann is not None:
            items, scores = self.ann.search(self.user_vectors[u : u + 1].cpu().numpy(), k, exclude=self.run.seen[u : u + 1])
        elif self.item_vectors is not None:
            return self._live_exact(u, k)
        else:
            items, scores = topk(self.run.model, np.array([u]), k, exclude=self.run.seen)
        return items[0], scores[0]

    @torch.no_grad()
    def _live_exact(self, u: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """One user's exact top-``k`` unseen: a matrix-vector product and a top-k."""
        scores = self.item_vectors @ self.user_vectors[u] + self.constant
        seen = self.run.seen
        scores[torch.from_numpy(seen.indices[seen.indptr[u] : seen.indptr[u + 1]].astype(np.int64)).to(scores.device)] = -torch.inf
        items, top = top_k(scores[None], k)
        return items[0].cpu().numpy(), top[0].cpu().numpy()

    # ------------------------------------------------------------------ items
    def similar(self, item_id: str, k: int) -> dict:
        i = self.run.item_map.index(item_id)
        found, sims = similar_items(self.run.model, np.array([i]), k)
        return {"item": self.item_raw[i], "title": self.titles[i], "k": k,
                "similar": ranked_indices(found[0], sims[0], self.item_raw, self.titles, key="similarity")}

    def liked(self, liked: Sequence, k: int, timestamps: Sequence[int] | None = None) -> dict:
        """Fold-in recommendations for an anonymous user who likes ``liked`` (raw item ids); from a
        sequential model, the next items after ``liked`` taken as recent items in time order (seen
        at ``timestamps``, where given)."""
        idx = [self.run.item_map.index(x) for x in liked]
        sequential = reads_history(self.run.model)  # the list is the user's recent items, oldest first
        if timestamps is not None and not sequential:
            from deeprecs.models import MODELS

            readers = ", ".join(name for name, cls in MODELS.items() if reads_history(cls))
            raise DeeprecsError(f"timestamps are read by a sequential model ({readers}); this run's model, "
                                f"{self.run.model.name}, takes liked items as a set: send them without timestamps")
        times = [list(timestamps)] if timestamps is not None else None
        items, scores = recommend_liked(self.run.model, [idx if sequential else sorted(set(idx))], k, gram=self.gram, times=times)
        return {"liked": [self.item_raw[i] for i in idx], "k": k, "source": "next-item" if sequential else "fold-in",
                "recommendations": ranked_indices(items[0], scores[0], self.item_raw, self.titles)}

    # ------------------------------------------------------------------ newcomers (by features)
    # Scored live from the run even where the store serves the known users: the store holds lists for
    # the run's users only, and a newcomer's list depends on what they send (nothing to precompute).
    def new_user(self, features: dict, liked: Sequence, k: int) -> dict:
        """A new user given by features (and optionally liked items, excluded): the same list as
        ``deeprecs recommend --new-user``."""
        idx = [self.run.item_map.index(x) for x in liked]
        return {"liked": [self.item_raw[i] for i in idx], "k": k, "source": "features", "features": features,
                "recommendations": new_user_lists(self.run, features, idx, k)}

    def new_item(self, features: dict, k: int, which: str) -> dict:
        """A new item given by features: its ``similar`` items or the ``users`` who would score it highest."""
        return {"features": features, "k": k, **new_item_lists(self.run, features, k, (which,))}

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
                "store": state, **{f"{side}_features": [c.spec() for c in table.encoder.columns] if (table := side_table(self.run, side)) else []
                                   for side in ("user", "item")}}


__all__ = ["RecService", "UnknownIdError", "dumps"]
