"""SASRec (Kang & McAuley 2018): causal self-attention over a user's history, shared item embeddings.

The history's item embeddings (times ``sqrt(d)``) plus learned position embeddings pass through
``blocks`` self-attention blocks, each: ``q = LN(x)``, ``x = q + Attention(q, x, x)`` (causal:
position ``t`` attends to the items at ``<= t``, never to padding), ``y = LN(x)``,
``x = y + FFN(y)``; a last layer norm gives the state ``s_t`` and item ``i`` scores
``s_t . E[i]`` with the same ``E`` as the input. Positions count back from the latest item (the
original's left-padded absolute positions), so a history scores the same whatever it is padded
to. Trained by :class:`~deeprecs.tasks.SequenceTask` (every position predicts the next item).

With ``time_buckets`` (the default: 64) the attention also reads when the items came: a learned
bias by the time between two items (:mod:`deeprecs.models.time_bias`), from the timestamps stored
with each user's history or given with a batch's (``Batch.history_times``); a history without them
is read by its order alone.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from deeprecs.models.layers import Dropout
from deeprecs.models.sequential import SequentialConfig, SequentialRecommender
from deeprecs.models.time_bias import TimeBias


class SASRecConfig(SequentialConfig):
    blocks: int = Field(2, ge=1, description="self-attention blocks")
    heads: int = Field(1, ge=1, description="attention heads (factors must be a multiple of it)")
    ffn_size: int = Field(0, ge=0, description="hidden units of each block's feed-forward layer (0: factors, the paper's)")
    attention_dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the attention weights (the PyTorch "
                                     "port's; the paper's: none)")
    time_buckets: int = Field(0, ge=0, description="time-aware attention: a learned bias by the time between two items, "
                              "in buckets floor(2 log2(1 + seconds)) up to this many (0: off, the paper's; the trainer's "
                              "default: 64)")

    @model_validator(mode="after")
    def _heads_divide_factors(self) -> "SASRecConfig":
        if self.factors % self.heads:
            raise ValueError(f"factors ({self.factors}) must be a multiple of heads ({self.heads})")
        return self


class Block(nn.Module):
    """One self-attention block of SASRec (see the module docstring)."""

    def __init__(self, d: int, heads: int, dropout: float, ffn_size: int = 0, attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.heads, self.attention_dropout = heads, attention_dropout
        self.ln_attn, self.ln_ffn = nn.LayerNorm(d, eps=1e-8), nn.LayerNorm(d, eps=1e-8)
        self.query, self.key_value, self.out = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        inner = ffn_size or d
        self.ffn = nn.Sequential(nn.Linear(d, inner), nn.ReLU(), Dropout(dropout), nn.Linear(inner, d), Dropout(dropout))
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor, keep: torch.Tensor, latest: bool = False) -> torch.Tensor:
        """``latest``: the output at the last position only, ``(B, 1, d)`` (it reads every position)."""
        b, length, d = x.shape
        split = lambda t: t.view(b, t.shape[1], self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        if latest:
            allowed, keep = allowed[:, :, -1:], keep[:, -1:]
        q_in = self.ln_attn(x[:, -1:] if latest else x)
        k, v = self.key_value(x).chunk(2, -1)
        att = F.scaled_dot_product_attention(split(self.query(q_in)), split(k), split(v), attn_mask=allowed,
                                             dropout_p=self.attention_dropout if self.training else 0.0)
        x = q_in + self.drop(self.out(att.transpose(1, 2).reshape(b, q_in.shape[1], d)))
        y = self.ln_ffn(x)
        return (y + self.ffn(y)) * keep


class SASRec(SequentialRecommender):
    Config = SASRecConfig
    name = "sasrec"
    summary = "SASRec: causal self-attention over each user's time-ordered history (next-item)"
    #: chosen on the validation part of ML-100K and ml-latest-small loo (docs/model-defaults.md)
    model_defaults = {"ranking": {"dropout": 0.35, "time_buckets": 64, "max_len": 100}}
    #: a warm refit of 3 epochs on train + validation (loo, NCF files): chosen on the validation part
    #: of ML-100K and ml-latest-small loo, the whole procedure run one step earlier; the user's own
    #: items no negatives (``mask_history``), lr 3e-3: chosen on the same validation parts (docs/model-defaults.md)
    train_defaults = {"ranking": {**SequentialRecommender.train_defaults["ranking"], "refit_epochs": 3, "mask_history": True,
                                  "lr": 3e-3}}
    latest_cells = 1 << 20  # about 26 histories of 200 at once: the attention weights stay in cache

    def __init__(self, config: SASRecConfig) -> None:
        super().__init__(config)
        d = config.factors
        self.pos_emb = nn.Embedding(config.max_len, d)
        self.blocks = nn.ModuleList(Block(d, config.heads, config.dropout, config.ffn_size, config.attention_dropout) for _ in range(config.blocks))
        self.ln_final = nn.LayerNorm(d, eps=1e-8)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_normal_(p)
        self.time_bias = TimeBias(config.blocks, config.heads, config.time_buckets) if config.time_buckets else None

    def reads_times(self) -> bool:
        return self.config.time_buckets > 0

    def encode(self, history: torch.Tensor, times: torch.Tensor | None = None, latest: bool = False) -> torch.Tensor:
        """``(B, L, d)``; ``latest``: the last position's state only, ``(B, 1, d)``; ``times``: the
        items' timestamps (read with ``time_buckets``; ``None``: the order alone)."""
        length = history.shape[1]
        x, keep = self.embed(history)
        back = torch.arange(length - 1, -1, -1, device=history.device)  # distance from the latest item
        x = self.drop(x * math.sqrt(self.config.factors) + self.pos_emb(back)) * keep
        causal = torch.ones(length, length, dtype=torch.bool, device=history.device).tril()
        # attend to earlier items, never to padding; a padding position attends to itself (no empty row)
        allowed = causal & ((keep.transpose(1, 2) > 0) | torch.eye(length, dtype=torch.bool, device=history.device))
        # (B, 1, L, L), every head alike; additive (0 / -inf): the CPU's fused kernel takes it, not a boolean mask
        allowed = torch.where(allowed, 0.0, float("-inf")).to(x.dtype).unsqueeze(1)
        buckets = self.time_bias.buckets(times) if self.time_bias is not None and times is not None else None
        for n, block in enumerate(self.blocks):
            mask = allowed if buckets is None else allowed + self.time_bias(n, buckets).to(x.dtype)
            x = block(x, mask, keep, latest=latest and n == len(self.blocks) - 1)
        return self.ln_final(x)

    def encode_latest(self, history: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        return self.encode(history, times, latest=True)[:, -1]


__all__ = ["SASRec", "SASRecConfig"]
