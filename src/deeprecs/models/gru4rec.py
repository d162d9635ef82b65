"""GRU4Rec (Hidasi et al. 2016): a GRU over a user's history, scored against shared item embeddings.

The history's item embeddings (dropout) run through ``layers`` GRU layers; the output after item
``t`` is the state ``s_t`` and item ``i`` scores ``s_t . E[i]``. The GRU has no biases, so that
left padding (a zero input from a zero state) leaves the state at exactly zero: a history scores
the same whatever it is padded to. Trained by :class:`~deeprecs.tasks.SequenceTask` on every
position, as SASRec (the session-parallel mini-batches of the paper are a way to the same end).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from deeprecs.models.sequential import SequentialConfig, SequentialRecommender


class GRU4RecConfig(SequentialConfig):
    layers: int = Field(1, ge=1, description="stacked GRU layers")


class GRU4Rec(SequentialRecommender):
    Config = GRU4RecConfig
    name = "gru4rec"
    summary = "GRU4Rec: a GRU over each user's time-ordered history (next-item)"

    def __init__(self, config: GRU4RecConfig) -> None:
        super().__init__(config)
        d = config.factors
        self.gru = nn.GRU(d, d, num_layers=config.layers, batch_first=True, bias=False,
                          dropout=config.dropout if config.layers > 1 else 0.0)
        nn.init.xavier_normal_(self.item_emb.weight)

    def encode(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:  # noqa: ARG002 (order alone)
        x, keep = self.embed(history)
        out, _ = self.gru(self.drop(x))
        return self.drop(out) * keep


__all__ = ["GRU4Rec", "GRU4RecConfig"]
