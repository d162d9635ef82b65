"""Matrix factorisation: dot-product MF, biased MF, non-negative MF, SVD++.

Shapes: ``P (n_users, d)``, ``Q (n_items, d)``; ``score(u, i) = offset + b_u + b_i + P[u] . Q[i]``
(biases only in the biased variants; ``offset`` is the training mean for ratings, 0 for ranking).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from deeprecs.batch import Batch
from deeprecs.models.base import FitData, ModelConfig, Recommender
from deeprecs.models.layers import csr_gather, dot_candidates, init_embedding
from deeprecs.search import float_range, int_range


class MFConfig(ModelConfig):
    factors: int = Field(64, ge=1, description="embedding size d", json_schema_extra=int_range(8, 256, log=True))
    l2: float = Field(0.05, ge=0, description="per-example L2 on the embeddings a batch touches", json_schema_extra=float_range(1e-5, 1.0, log=True))
    init_std: float = Field(0.1, gt=0, description="std of the normal initialisation")


class MF(Recommender):
    """Dot-product matrix factorisation: ``score = P[u] . Q[i]`` (plus the rating mean)."""

    Config = MFConfig
    name = "mf"
    summary = "dot-product matrix factorisation"
    default_loss = {"rating": "mse", "ranking": "bce"}
    model_defaults = {"rating": {"factors": 128, "l2": 0.05, "init_std": 0.01},
                      "ranking": {"factors": 64, "l2": 1e-3, "init_std": 0.01}}
    train_defaults = {"rating": {"lr": 1e-3, "batch_size": 256},
                      "ranking": {"optimizer": "sparse-adam", "batch_size": 2048, "min_steps_per_epoch": 50, "lr": 3e-3, "epochs": 20, "patience": 3, "n_negatives": 4}}
    biased = False
    user_tables = ("user_emb", "user_bias")
    item_tables = ("item_emb", "item_bias")

    def __init__(self, config: MFConfig) -> None:
        super().__init__(config)
        self.user_emb = init_embedding(config.n_users, config.factors, config.init_std)
        self.item_emb = init_embedding(config.n_items, config.factors, config.init_std)
        if self.biased:
            self.user_bias = nn.Embedding(config.n_users, 1)
            self.item_bias = nn.Embedding(config.n_items, 1)
            nn.init.zeros_(self.user_bias.weight)
            nn.init.zeros_(self.item_bias.weight)

    def user_factors(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_emb(users)

    def forward(self, batch: Batch) -> torch.Tensor:
        users, items = batch.users, batch.items
        s = (self.user_factors(users) * self.item_emb(items)).sum(-1) + self.rating_offset
        if self.biased:
            s = s + self.user_bias(users).squeeze(-1) + self.item_bias(items).squeeze(-1)
        return s

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        users, items = batch.users, batch.items
        u = self.user_factors(users)  # (B, d): once per user, not once per candidate
        s = dot_candidates(u, self.item_emb(items)) + self.rating_offset
        if self.biased:
            s = s + self.user_bias(users) + self.item_bias(items).squeeze(-1)
        return s

    def all_user_factors(self) -> torch.Tensor:
        return self.user_emb.weight

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        u, v = self.all_user_factors(), self.item_emb.weight
        if self.biased:  # fold the biases into two extra dimensions
            ones_u = torch.ones(len(u), 1, device=u.device)
            ones_v = torch.ones(len(v), 1, device=v.device)
            u = torch.cat([u, self.user_bias.weight, ones_u], 1)
            v = torch.cat([v, ones_v, self.item_bias.weight], 1)
        return u, v

    def item_embeddings(self) -> torch.Tensor:
        return self.item_emb.weight

    def user_embeddings(self) -> torch.Tensor:
        return self.all_user_factors()


class BiasedMF(MF):
    """Biased MF: global mean + user bias + item bias + ``P[u] . Q[i]`` (Koren's SVD)."""

    name = "biased-mf"
    summary = "global mean + user/item biases + dot product (SVD-style)"
    biased = True
    model_defaults = {"rating": {"factors": 64, "l2": 0.1, "init_std": 0.01}}
    train_defaults = {"rating": {"patience": 3}}


class NNMF(MF):
    """Non-negative MF: embeddings projected onto ``>= 0`` after every optimiser step."""

    name = "nnmf"
    summary = "non-negative matrix factorisation (embeddings kept >= 0)"
    # Non-negative factors can only add to a prediction, so NNMF approximates the raw ratings
    # (no mean offset); its initial dot products start near the mean rating (d * std^2 * 2/pi).
    centered = False
    model_defaults = {"rating": {"factors": 32, "init_std": 0.4, "l2": 0.05}}
    train_defaults = {"rating": {"lr": 5e-3, "batch_size": 1024}}
    #: not bce: scores are >= 0, so log loss pushes negatives to 0 and the projection
    #: collapses every embedding to zero; a pairwise loss only needs pos > neg
    default_loss = {"rating": "mse", "ranking": "bpr"}

    def __init__(self, config: MFConfig) -> None:
        super().__init__(config)
        with torch.no_grad():
            self.user_emb.weight.abs_()
            self.item_emb.weight.abs_()

    @torch.no_grad()
    def after_step(self) -> None:
        self.user_emb.weight.clamp_(min=0)
        self.item_emb.weight.clamp_(min=0)


class SVDppConfig(MFConfig):
    implicit_l2: float = Field(0.05, ge=0, description="L2 on the implicit item factors y_j", json_schema_extra=float_range(1e-4, 1.0, log=True))


class SVDpp(MF):
    """SVD++ (Koren 2008): the user vector is ``P[u] + |N(u)|^-1/2 sum_{j in N(u)} Y[j]`` where
    ``N(u)`` are the items the user rated in train: what was rated carries signal too."""

    Config = SVDppConfig
    name = "svdpp"
    summary = "biased MF plus an implicit-feedback term over the items each user rated (SVD++)"
    biased = True
    model_defaults = {**MF.model_defaults, "rating": {"factors": 64, "l2": 0.05, "init_std": 0.01}}
    train_defaults = {**MF.train_defaults, "rating": {"lr": 2e-3, "batch_size": 512}}

    def __init__(self, config: SVDppConfig) -> None:
        super().__init__(config)
        self.implicit_emb = init_embedding(config.n_items, config.factors, config.init_std / 10)
        self.register_buffer("norm_indptr", torch.zeros(config.n_users + 1, dtype=torch.long))
        self.register_buffer("norm_items", torch.zeros(0, dtype=torch.long))

    item_tables = ("item_emb", "item_bias", "implicit_emb")

    def fit_data(self, data: FitData) -> None:
        csr = data.train.tocsr()
        self.keep("norm_indptr", torch.from_numpy(csr.indptr.astype("int64")))
        self.keep("norm_items", torch.from_numpy(csr.indices.astype("int64")))

    def _implicit(self, users: torch.Tensor) -> torch.Tensor:
        """``(B, d)`` normalised sum of Y over each user's rated items (an EmbeddingBag)."""
        _, flat, lengths = csr_gather(self.norm_indptr, users)
        offsets = torch.cumsum(lengths, 0) - lengths
        summed = nn.functional.embedding_bag(self.norm_items[flat], self.implicit_emb.weight, offsets, mode="sum")
        return summed * lengths.clamp(min=1).float().rsqrt().unsqueeze(1)

    def user_factors(self, users: torch.Tensor) -> torch.Tensor:
        return self.user_emb(users) + self._implicit(users)

    def all_user_factors(self) -> torch.Tensor:
        return self.user_factors(torch.arange(self.config.n_users, device=self.device))

    def regularization(self, batch: Batch) -> torch.Tensor:
        return super().regularization(batch) + self.config.implicit_l2 * self.implicit_emb.weight.pow(2).sum() / max(self.config.n_users, 1)


_RANKING_MF = {"factors": 128, "l2": 1e-4, "init_std": 0.01}


class BPRMF(BiasedMF):
    """Biased MF trained for ranking with the BPR loss: a name for an architecture and its loss."""

    name = "bpr-mf"
    tasks = ("ranking",)
    summary = "MF with item biases trained with the BPR loss (-log sigmoid)"
    default_loss = {"ranking": "bpr"}
    fixed_loss = True
    model_defaults = {"ranking": _RANKING_MF}
    train_defaults = {"ranking": {"lr": 2e-3, "patience": 8}}


class WARPMF(BiasedMF):
    """Biased MF trained for ranking with WARP's hard negatives. WARP learns fast and overfits fast:
    a small step and more L2 (docs/model-defaults.md)."""

    name = "warp-mf"
    tasks = ("ranking",)
    summary = "MF with item biases trained with WARP hard negatives"
    default_loss = {"ranking": "warp"}
    fixed_loss = True
    model_defaults = {"ranking": {**_RANKING_MF, "l2": 1e-3}}
    train_defaults = {"ranking": {"lr": 2e-3, "batch_size": 2048, "patience": 3}}
