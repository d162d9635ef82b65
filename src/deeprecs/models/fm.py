"""Factorization machines (Rendle 2010) over ids, features and rated items, and DeepFM.

An example is the sparse vector ``x`` of its user's side (the user id, the user's features, and
optionally the items the user rated in train, each weighted ``|N(u)|^-1/2``: SVD++'s implicit
feedback as a field) and its item's side (the item id, the item's features). The FM scores

    ``w0 + sum_i w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j``

with the pairwise term in O(kn): ``1/2 (|sum_i x_i v_i|^2 - sum_i x_i^2 |v_i|^2)``. Split by side
(``S``: a side's ``sum x v``, ``Q``: its ``sum x^2 |v|^2``, ``L``: its ``sum x w``) it is a dot product,

    ``score = <S_u, S_i> + a_u + a_i``, ``a = L + (|S|^2 - Q) / 2`` (``w0`` in ``a_u``),

so retrieval vectors are ``[S_u, a_u, 1]`` and ``[S_i, 1, a_i]``. A batch's ``user_features`` /
``item_features`` describe users or items the model has no row for (``users`` or ``items`` -1):
their vectors come from their features alone, without retraining.

DeepFM (Guo et al. 2017) adds an MLP over the same embeddings, pooled per field (per side: the
id, the features, the rated items), to the FM's score.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field
from torch import nn

from deeprecs.batch import Batch, FeatureBag
from deeprecs.models.base import FitData, ModelConfig, Recommender, zero_rows
from deeprecs.models.bags import RowBags
from deeprecs.models.layers import concat_mlp_candidates, concat_mlp_score_all, dot_candidates, flat_layers, mlp
from deeprecs.search import float_range, int_range


class FMConfig(ModelConfig):
    factors: int = Field(32, ge=1, description="embedding size k", json_schema_extra=int_range(8, 128, log=True))
    l2: float = Field(0.05, ge=0, description="per-example L2 on the embeddings and weights a batch touches",
                      json_schema_extra=float_range(1e-5, 1.0, log=True))
    init_std: float = Field(0.01, gt=0, description="std of the normal initialisation")
    implicit: bool = Field(True, description="add each user's rated train items as a field weighted 1/sqrt(n) (SVD++'s implicit feedback)")
    id_dropout: float = Field(0.0, ge=0, lt=1, description="training: drop an example's item id (its features stay) with this "
                              "probability, so that features learn to stand in for it (items never seen; DropoutNet)")
    user_id_dropout: float = Field(0.0, ge=0, lt=1, description="training: drop an example's user id (its features stay) with this "
                                   "probability, so that features learn to stand in for it (users never seen)")
    implicit_users: bool = Field(False, description="add each item's train users as a field weighted 1/sqrt(n) (the items' implicit feedback)")


@dataclass
class Side:
    """One side's terms for ``B`` rows: ``S (B, k)``, ``Q (B,)``, ``L (B,)``, and its fields
    pooled (``(B, n_fields, k)``, DeepFM)."""

    s: torch.Tensor
    q: torch.Tensor
    lin: torch.Tensor
    fields: list[torch.Tensor]
    #: the pairwise interactions within the side count (an FM); False: a hybrid MF's ``a = L``
    within: bool = True

    def take(self, rows: torch.Tensor) -> "Side":
        return Side(self.s[rows], self.q[rows], self.lin[rows], [f[rows] for f in self.fields], self.within)

    @property
    def a(self) -> torch.Tensor:
        return self.lin + 0.5 * (self.s.pow(2).sum(-1) - self.q) if self.within else self.lin


def _bag_terms(emb: nn.Embedding, bias: nn.Embedding, indices: torch.Tensor, row: torch.Tensor, x: torch.Tensor, n: int
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(sum x v, sum x^2 |v|^2, sum x w)`` per row of the entries ``indices`` (row ``row``, in
    row order; value ``x``): three fused ``embedding_bag`` sums."""
    counts = torch.bincount(row, minlength=n)
    offsets = torch.cumsum(counts, 0) - counts
    bag = nn.functional.embedding_bag
    s = bag(indices, emb.weight, offsets, mode="sum", per_sample_weights=x)
    q = bag(indices, emb.weight.pow(2).sum(1, keepdim=True), offsets, mode="sum", per_sample_weights=x.pow(2)).squeeze(1)
    lin = bag(indices, bias.weight, offsets, mode="sum", per_sample_weights=x).squeeze(1)
    return s, q, lin


def _embedding(n: int, k: int, std: float) -> nn.Embedding:
    emb = nn.Embedding(max(n, 1), k)
    nn.init.normal_(emb.weight, std=std)
    return emb


def _zeros(n: int) -> nn.Embedding:
    emb = nn.Embedding(max(n, 1), 1)
    nn.init.zeros_(emb.weight)
    return emb


class FM(Recommender):
    """Factorization machine over ids, user/item features and (optionally) rated items."""

    Config = FMConfig
    name = "fm"
    summary = "factorization machine (Rendle 2010) over ids, user/item features and rated items"
    inputs = frozenset({"user_features", "item_features", "history"})
    default_loss = {"rating": "mse", "ranking": "bpr"}
    #: rating: chosen on ML-100K u1's validation part (docs/model-defaults.md, "fm")
    model_defaults = {"rating": {"factors": 64, "l2": 0.1, "init_std": 0.01, "implicit_users": True},
                      "ranking": {"factors": 64, "l2": 1e-4}}
    #: rating: batches of 4096 (docs/model-defaults.md, "fm": the best validation RMSE, at less CPU than 2048's)
    train_defaults = {"rating": {"lr": 5e-3, "batch_size": 4096, "patience": 2, "lr_decay": 0.8},
                      "ranking": {"lr": 2e-3, "batch_size": 1024, "min_steps_per_epoch": 50, "epochs": 30, "patience": 3}}
    user_tables = ("user_emb", "user_bias")
    item_tables = ("item_emb", "item_bias")
    #: pairwise interactions within a side (user id x user features, ...) count
    within = True
    #: the optional implicit-feedback tables (present with ``implicit`` / ``implicit_users``), by what indexes them
    implicit_tables = {"user": ("implicit_user_emb", "implicit_user_bias"), "item": ("implicit_emb", "implicit_bias")}

    def __init__(self, config: FMConfig) -> None:
        super().__init__(config)
        k, std = config.factors, config.init_std
        self.user_emb, self.user_bias = _embedding(config.n_users, k, std), _zeros(config.n_users)
        self.item_emb, self.item_bias = _embedding(config.n_items, k, std), _zeros(config.n_items)
        self.user_feat_emb, self.user_feat_bias = _embedding(config.n_user_features, k, std), _zeros(config.n_user_features)
        self.item_feat_emb, self.item_feat_bias = _embedding(config.n_item_features, k, std), _zeros(config.n_item_features)
        if config.implicit:
            self.implicit_emb, self.implicit_bias = _embedding(config.n_items, k, std), _zeros(config.n_items)
        if config.implicit_users:
            self.implicit_user_emb, self.implicit_user_bias = _embedding(config.n_users, k, std), _zeros(config.n_users)
        self.global_bias = nn.Parameter(torch.zeros(()))
        for side, rows in (("user_feat", config.n_users), ("item_feat", config.n_items), ("implicit", config.n_users),
                           ("implicit_user", config.n_items)):
            setattr(self, f"{side}_bags", RowBags(rows))
        self._cache: tuple | None = None

    # ------------------------------------------------------------------ data
    def fit_data(self, data: FitData) -> None:
        for side, table in (("user_feat", data.user_features), ("item_feat", data.item_features)):
            if table is not None and getattr(self.config, f"n_{side}ures"):
                getattr(self, f"{side}_bags").keep_table(table)
        for side, on, csr in (("implicit", self.config.implicit, lambda: data.train.tocsr()),
                              ("implicit_user", self.config.implicit_users, lambda: data.train.tocsr().T.tocsr())):
            if on:
                matrix = csr()
                indptr = torch.from_numpy(matrix.indptr.astype("int64"))
                lengths = indptr[1:] - indptr[:-1]
                getattr(self, f"{side}_bags").keep(indptr, torch.from_numpy(matrix.indices.astype("int64")),
                                                   lengths.clamp(min=1).float().rsqrt().repeat_interleave(lengths))

    # ------------------------------------------------------------------ the two sides
    def _side(self, ids: torch.Tensor, given: FeatureBag | None, user: bool, history: torch.Tensor | None = None) -> Side:
        """The terms of users (``user``) or items ``ids (B,)``; ``given``: the rows' own features
        (else the model's buffers; ids -1 have only what is given); ``history (B, L)``: the users'
        rated items (-1 padded) for the implicit field, in place of the model's own."""
        n = len(ids)
        prefix = "user" if user else "item"
        known = ids >= 0
        safe = torch.where(known, ids, torch.zeros_like(ids))
        x_id = known.to(self.global_bias.dtype)
        drop = self.config.user_id_dropout if user else self.config.id_dropout
        if self.training and drop:
            x_id = x_id * (torch.rand(n, device=ids.device) >= drop)
        emb, bias = getattr(self, f"{prefix}_emb"), getattr(self, f"{prefix}_bias")
        id_v = emb(safe) * x_id.unsqueeze(1)
        terms = [(id_v, x_id.pow(2) * emb(safe).pow(2).sum(-1), x_id * bias(safe).squeeze(-1))]
        fields = [id_v]
        feat_emb, feat_bias = getattr(self, f"{prefix}_feat_emb"), getattr(self, f"{prefix}_feat_bias")
        if given is not None or getattr(self.config, f"n_{prefix}_features"):
            terms.append(_bag_terms(feat_emb, feat_bias, *_reorder(getattr(self, f"{prefix}_feat_bags").entries(ids, given)), n))
        if getattr(self.config, f"n_{prefix}_features"):
            fields.append(terms[-1][0] if len(terms) > 1 else torch.zeros_like(id_v))
        if user and self.config.implicit:
            entries = self.implicit_bags.entries(ids) if history is None else _history_bag(history)
            terms.append(_bag_terms(self.implicit_emb, self.implicit_bias, *_reorder(entries), n))
            fields.append(terms[-1][0])
        if not user and self.config.implicit_users:
            terms.append(_bag_terms(self.implicit_user_emb, self.implicit_user_bias, *_reorder(self.implicit_user_bags.entries(ids)), n))
            fields.append(terms[-1][0])
        s, q, lin = (sum(t[j] for t in terms) for j in range(3))
        if user:
            lin = lin + self.global_bias
        return Side(s, q, lin, fields, self.within)

    def user_side(self, batch: Batch) -> Side:
        """The users' terms; each distinct known user computed once (a user's rated items make
        the user side the costly one; a batch holds each user many times)."""
        users = batch.users
        if batch.user_features is not None or batch.history is not None or len(users) < 64:
            return self._side(users, batch.user_features, user=True, history=batch.history)
        distinct, inverse = torch.unique(users, return_inverse=True)
        return self._side(distinct, None, user=True).take(inverse)

    def item_side(self, items: torch.Tensor, given: FeatureBag | None = None) -> Side:
        if given is not None or len(items) < 64 or not self.config.implicit_users:
            return self._side(items, given, user=False)
        distinct, inverse = torch.unique(items, return_inverse=True)
        return self._side(distinct, None, user=False).take(inverse)

    # ------------------------------------------------------------------ scoring
    def _sides(self, batch: Batch, candidates: bool = False) -> tuple[Side, Side]:
        """The batch's user and item sides (``candidates``: its ``items (B, m)`` flattened); in
        training, the user side's ``Q`` (and the item side's, for pairs) kept for the penalty."""
        items = batch.items.reshape(-1) if candidates else batch.items
        u, i = self.user_side(batch), self.item_side(items, batch.item_features)
        if self.training:
            self._cache = (batch.users, u.q, None, None) if candidates else (batch.users, u.q, i.q, batch.items)
        return u, i

    def extra(self, u: Side, i: Side, shape: tuple[int, int] | None = None) -> torch.Tensor | float:
        """What a subclass adds to the FM's score of the sides' pairs (``shape``: ``(B, m)`` candidates)."""
        return 0.0

    def forward(self, batch: Batch) -> torch.Tensor:
        u, i = self._sides(batch)
        return (u.s * i.s).sum(-1) + u.a + i.a + self.extra(u, i) + self.rating_offset

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        b, m = batch.items.shape
        u, i = self._sides(batch, candidates=True)
        return dot_candidates(u.s, i.s.view(b, m, -1)) + u.a.unsqueeze(1) + i.a.view(b, m) + self.extra(u, i, (b, m)) + self.rating_offset

    def query_vectors(self, batch: Batch) -> torch.Tensor:
        u = self.user_side(batch)
        return torch.cat([u.s, u.a.unsqueeze(1), torch.ones_like(u.a).unsqueeze(1)], 1)

    def item_vectors(self, items: torch.Tensor, given: FeatureBag | None = None) -> torch.Tensor:
        i = self.item_side(items, given)
        return torch.cat([i.s, torch.ones_like(i.a).unsqueeze(1), i.a.unsqueeze(1)], 1)

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        dev = self.device
        return (self.query_vectors(Batch(torch.arange(self.config.n_users, device=dev))),
                self.item_vectors(torch.arange(self.config.n_items, device=dev)))

    def score_all(self, batch: Batch, chunk: int = 1 << 20) -> torch.Tensor:
        return self.query_vectors(batch) @ self.item_vectors(torch.arange(self.config.n_items, device=self.device)).T + self.rating_offset

    def item_embeddings(self) -> torch.Tensor:
        return self.item_embeddings_of(torch.arange(self.config.n_items, device=self.device))

    def item_embeddings_of(self, items: torch.Tensor, given: FeatureBag | None = None) -> torch.Tensor:
        """``(B, k)``: the items' ``S`` (id plus features), for similar items; ``given``: features of new items."""
        return self.item_side(items, given).s

    def user_embeddings(self) -> torch.Tensor:
        return self.user_side(Batch(torch.arange(self.config.n_users, device=self.device))).s

    def new_item_embeddings(self, given: FeatureBag) -> torch.Tensor:
        return self.item_embeddings_of(torch.full((len(given),), -1, device=self.device), given)

    # ------------------------------------------------------------------ training
    def regularization(self, batch: Batch) -> torch.Tensor:
        """``l2`` times the batch mean of ``Q`` (``sum x^2 |v|^2``) of both sides: every embedding
        the example touched, weighted as it enters the score."""
        if not self.config.l2:
            return torch.zeros((), device=self.device)
        users, uq, iq, items = self._cache if self._cache is not None and self._cache[0] is batch.users else (None, None, None, None)
        if uq is None:
            uq = self.user_side(batch).q
        if iq is None or items is not batch.items:
            iq = self.item_side(batch.items.reshape(-1)).q
        self._cache = None
        return self.config.l2 * (uq.mean() + iq.mean())

    @torch.no_grad()
    def zero_cold(self, cold_users: torch.Tensor, cold_items: torch.Tensor) -> None:
        super().zero_cold(cold_users, cold_items)
        zero_rows(self, self.implicit_tables["user"], cold_users)
        zero_rows(self, self.implicit_tables["item"], cold_items)

    @torch.no_grad()
    def forget_cold(self, cold_users: torch.Tensor, cold_items: torch.Tensor, task: str) -> None:
        """Zero the cold ids' rows; their features still score them. For ranking, cold items then
        go below every warm item, as the base class does, by one shift of their biases bounded by
        the sides' vectors (``B = max|S_u| max|S_i|``): among themselves (a cold-items split's
        metrics) they keep their features' order. Without it, on ML-100K ua (positives >= 4) the
        never-liked items' features put them among the liked: AUC 0.9425 with features against
        0.9446 without."""
        self.zero_cold(cold_users, cold_items)
        if task == "ranking" and cold_items.any() and not cold_items.all():
            u, v = FM.retrieval_vectors(self)
            bound = u[:, :-2].norm(dim=1).max() * v[:, :-2].norm(dim=1).max()
            a = v[:, -1]
            self.item_bias.weight[cold_items] += a[~cold_items].min() - 2 * bound - 1 - a[cold_items].max()


def _history_bag(history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(row, item, 1/sqrt(n))`` of each row's items in ``history (B, L)`` (-1: padding)."""
    row, col = torch.nonzero(history >= 0, as_tuple=True)
    n = (history >= 0).sum(1).clamp(min=1).float()
    return row, history[row, col], n[row].rsqrt()


def _reorder(entries: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(row, feature id, x)`` -> ``(feature id, row, x)`` (:func:`_bag_terms`' order)."""
    row, idx, x = entries
    return idx, row, x


class HybridMF(FM):
    """LightFM-style hybrid MF: a user's vector is its id embedding plus its features' (and, with
    ``implicit``, its rated items'), an item's likewise; ``score = <S_u, S_i> + biases``: the FM
    without the interactions within a side."""

    name = "hybrid-mf"
    summary = "LightFM-style hybrid MF: id + feature embeddings per side, dot product plus biases"
    within = False
    model_defaults = {"rating": {**FM.model_defaults["rating"]}, "ranking": {"factors": 64, "l2": 1e-4}}
    train_defaults = {**FM.train_defaults, "rating": {**FM.train_defaults["rating"], "batch_size": 2048}}  # not validated at 4096


class DeepFMConfig(FMConfig):
    layers: list[int] = Field([64, 32], description="hidden sizes of the MLP over the fields' embeddings")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout between the MLP's layers")


class DeepFM(FM):
    """DeepFM: the FM's score plus an MLP over the same embeddings, pooled per field."""

    Config = DeepFMConfig
    name = "deepfm"
    summary = "DeepFM: a factorization machine plus an MLP over the same field embeddings"
    train_defaults = HybridMF.train_defaults

    def __init__(self, config: DeepFMConfig) -> None:
        super().__init__(config)
        n_user_fields = 1 + bool(config.n_user_features) + bool(config.implicit)
        n_item_fields = 1 + bool(config.n_item_features) + bool(config.implicit_users)
        self.deep = mlp([(n_user_fields + n_item_fields) * config.factors, *config.layers, 1], config.dropout, final_activation=False)

    def _fields(self, side: Side) -> torch.Tensor:
        return torch.cat(side.fields, 1)

    def extra(self, u: Side, i: Side, shape: tuple[int, int] | None = None) -> torch.Tensor:
        """The MLP over the pair's fields."""
        if shape is None:
            return self.deep(torch.cat([self._fields(u), self._fields(i)], 1)).squeeze(-1)
        return concat_mlp_candidates(self._fields(u), self._fields(i).view(*shape, -1), flat_layers(self.deep)).squeeze(-1)

    def score_all(self, batch: Batch, chunk: int = 1 << 20) -> torch.Tensor:
        u = self.user_side(batch)
        i = self.item_side(torch.arange(self.config.n_items, device=self.device))
        deep = concat_mlp_score_all(self._fields(u), self._fields(i), flat_layers(self.deep))
        return u.s @ i.s.T + u.a.unsqueeze(1) + i.a.unsqueeze(0) + deep + self.rating_offset

    def retrieval_vectors(self) -> None:
        return None

    @torch.no_grad()
    def forget_cold(self, cold_users: torch.Tensor, cold_items: torch.Tensor, task: str) -> None:
        """Zero the cold ids' rows (the MLP has no bound that would rank a cold item last)."""
        self.zero_cold(cold_users, cold_items)

    def query_vectors(self, batch: Batch) -> None:
        return None


__all__ = ["FM", "DeepFM", "DeepFMConfig", "FMConfig", "HybridMF"]
