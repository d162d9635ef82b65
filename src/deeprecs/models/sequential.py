"""What sequential recommenders (SASRec, GRU4Rec) share: a user is their history.

A sequential model reads a user's items in time order (:mod:`deeprecs.data.sequences`) and turns
them into a state ``s (d,)`` at each position; an item scores ``s . E[i]`` with the shared item
embeddings ``E``. The state after the latest item scores the next one. The model keeps each
known user's latest ``max_len`` items as a buffer (``histories``, from the data it was fitted on:
train, or train + validation after a refit; saved with the weights), so that users are scored by
id as every other model scores them; a batch that carries ``history`` (an anonymous session, the
service's ordered list) is scored from that instead, with no retraining.

Subclasses implement ``encode(history (B, L), times (B, L) | None) -> (B, L, d)``, causal (position
``t`` reads items ``<= t`` only) and blind to left padding (``-1``), so that a history scores the same
whatever the width it is padded to. ``times`` are the items' timestamps, for a model that reads them
(``reads_times``; SASRec's time-aware attention); ``None`` where they are unknown (a history given
without them): such a model then reads the order alone.
"""

from __future__ import annotations

from itertools import repeat

import torch
from pydantic import Field
from torch import nn

from deeprecs.batch import Batch
from deeprecs.data.interactions import Interactions
from deeprecs.data.sequences import require_timestamps, user_histories
from deeprecs.errors import ConfigError
from deeprecs.models.base import NEXT_ITEM_TRAIN_DEFAULTS, Defaults, FitData, ModelConfig, Recommender, Setting
from deeprecs.models.layers import Dropout


class SequentialConfig(ModelConfig):
    factors: int = Field(64, ge=1, description="size of the item embeddings and of the sequence state")
    max_len: int = Field(200, ge=1, description="how many of a user's latest items the model reads")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout on the embeddings and inside the layers")
    every_item: bool = Field(True, description="train on every item of a history longer than max_len (cut into "
                             "rows that overlap by one item); False: on each user's latest max_len + 1 items only")


class SequentialRecommender(Recommender):
    """Base of the sequential models; see the module docstring."""

    Config = SequentialConfig
    tasks = ("ranking",)
    #: chosen on the validation part of ML-100K and ml-latest-small loo (docs/model-defaults.md): 2,048
    #: popularity-drawn negatives shared by each batch, logQ-corrected; the full softmax on a catalogue
    #: of at most 2,048 items (ML-100K's 1,682)
    default_loss = {"ranking": "shared-softmax"}
    #: chosen on the validation part of ML-100K loo (docs/model-defaults.md)
    train_defaults = {"ranking": {"epochs": 200, "batch_size": 32, "lr": 2e-3, "patience": 5,
                                  "n_negatives": 2048, "sampler": "popularity"}}
    #: no refit on train + validation by default: the validation fit reads the validation item as
    #: the latest of each history at test time (``observe``), for a fraction of the cost (docs/model-defaults.md)
    refits = False
    #: a warm refit (``refit_epochs``) continues the validation fit on train + validation: ``fit_data``
    #: keeps the histories alone, which ``observe`` renews
    warm_refits = True
    inputs = frozenset({"history"})
    item_tables = ("item_emb",)
    #: user rows scored at once when every user's state is needed (``retrieval_vectors``)
    chunk_users = 1024
    #: histories encoded at once when scoring: ``latest_cells // width**2`` rows (a model whose cost
    #: grows with ``width**2``, as self-attention's, runs faster in cache-sized pieces); None: all at once
    latest_cells: int | None = None

    def __init__(self, config: SequentialConfig) -> None:
        super().__init__(config)
        self.item_emb = nn.Embedding(config.n_items, config.factors)
        self.drop = Dropout(config.dropout)
        self.register_buffer("histories", torch.full((config.n_users, config.max_len), -1, dtype=torch.long))
        if self.reads_times():  # each stored history item's timestamp
            self.register_buffer("history_times", torch.zeros((config.n_users, config.max_len), dtype=torch.long))

    # -------------------------------------------------------------- the sequence
    def reads_times(self) -> bool:
        """Whether the model reads its history items' timestamps (``encode``'s ``times``)."""
        return False

    def encode(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:  # (B, L) -> (B, L, d)
        raise NotImplementedError

    def embed(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E[history] (B, L, d) with zeros at padding, keep (B, L, 1) float)``."""
        keep = (history >= 0).unsqueeze(-1).to(self.item_emb.weight.dtype)
        return self.item_emb(history.clamp(min=0)) * keep, keep

    def sequence_states(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, L, d)``: the state after each position of ``history`` (its latest ``max_len``)."""
        tail = slice(-self.config.max_len, None)
        return self.encode(history[:, tail], None if times is None or not self.reads_times() else times[:, tail])

    def states(self, batch: Batch) -> torch.Tensor:
        """``(B, d)``: each row's state after its latest item: from the batch's ``history``, else
        from the user's stored one (each distinct user encoded once)."""
        if batch.history is not None:
            if batch.history_times is not None and batch.history_times.shape != batch.history.shape:
                raise ConfigError(f"history_times {tuple(batch.history_times.shape)} must have the history's shape "
                                  f"{tuple(batch.history.shape)}: one timestamp per item, padded alike")
            return self._latest(batch.history, batch.history_times)
        users = batch.users
        if len(users) and bool((users < 0).any()):
            raise ConfigError(f"{self.name} scores a user without a row from their history; give the batch a history")
        distinct, inverse = torch.unique(users, return_inverse=True)
        return self._latest(self.histories[distinct], self.history_times[distinct] if self.reads_times() else None)[inverse]

    def encode_latest(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:  # (B, L) -> (B, d)
        """The state after the latest item only (a model may skip work the other positions need)."""
        return self.encode(history, times)[:, -1]

    def _latest(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        width = min(history.shape[1], self.config.max_len)
        if width > 1 and len(history):  # drop the columns that are padding in every row
            width = max(int((history[:, -width:] >= 0).sum(1).max()), 1)
        history = history[:, -width:]
        times = times[:, -width:] if times is not None and self.reads_times() else None
        if self.latest_cells is None or len(history) == 0:
            return self.encode_latest(history, times)
        rows = max(1, self.latest_cells // history.shape[1] ** 2)
        parts = zip(history.split(rows), times.split(rows) if times is not None else repeat(None))
        return torch.cat([self.encode_latest(h, t) for h, t in parts])

    def score_states(self, states: torch.Tensor, items: torch.Tensor | None = None) -> torch.Tensor:
        """``states (N, d)`` against ``items (N, m)`` -> ``(N, m)``, the same ``items (m,)`` for every
        row -> ``(N, m)``, or every item -> ``(N, n_items)``."""
        if items is None:
            return states @ self.item_emb.weight.T
        if items.dim() == 1:
            return states @ self.item_emb(items).T
        return torch.einsum("nd,nmd->nm", states, self.item_emb(items))

    # -------------------------------------------------------------- the contract
    def forward(self, batch: Batch) -> torch.Tensor:
        return (self.states(batch) * self.item_emb(batch.items)).sum(-1)

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        return self.score_states(self.states(batch), batch.items)

    def score_all(self, batch: Batch, chunk: int = 1 << 20) -> torch.Tensor:  # noqa: ARG002
        return self.score_states(self.states(batch))

    def query_vectors(self, batch: Batch) -> torch.Tensor:
        return self.states(batch)

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every known user's state after their stored history, and the item embeddings."""
        users = torch.arange(self.config.n_users, device=self.device)
        parts = [self.states(Batch(users[s : s + self.chunk_users])) for s in range(0, len(users), self.chunk_users)]
        states = torch.cat(parts) if parts else self.item_emb.weight.new_zeros(0, self.config.factors)
        return states, self.item_emb.weight

    def item_embeddings(self) -> torch.Tensor:
        return self.item_emb.weight

    # -------------------------------------------------------------- training
    def fit_data(self, data: FitData) -> None:
        """Keep each user's latest ``max_len`` items of ``data.train`` in time order."""
        self.observe(data.train)

    def observe(self, known: Interactions) -> None:
        require_timestamps(known, self.name)
        found = user_histories(known, self.config.max_len, times=self.reads_times())
        items, stamps = found if self.reads_times() else (found, None)
        self.keep("histories", torch.from_numpy(items))
        if stamps is not None:
            self.keep("history_times", torch.from_numpy(stamps))

    def make_task(self, task: str, data: FitData, cfg):  # noqa: ANN001, ANN201, ARG002
        from deeprecs.tasks import SequenceTask

        require_timestamps(data.train, self.name)
        return SequenceTask(data.train, cfg, self.config.max_len, data.device, self.config.every_item, self.reads_times())

    @classmethod
    def defaults(cls, setting: Setting) -> Defaults:
        """The class's tables, without the recency boost of other models: the order of a user's
        items is what the model reads."""
        found = super().defaults(setting)
        for key in NEXT_ITEM_TRAIN_DEFAULTS:
            if key not in cls.train_defaults.get(setting.task, {}):
                found.train.pop(key, None)
        return found


__all__ = ["SequentialConfig", "SequentialRecommender"]
