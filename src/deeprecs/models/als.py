"""Implicit ALS (Hu, Koren & Volinsky, ICDM 2008), solved with conjugate gradient (Takács et al. 2011).

Every (user, item) cell is a target: ``p_ui = 1`` for an observed pair, else 0, with confidence
``c_ui = 1 + alpha`` for observed pairs and 1 elsewhere. The loss

    sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + l2 (||X||^2 + ||Y||^2)

is minimised by alternating exact least-squares problems: with ``Y`` fixed, user ``u`` solves
``(Y^T Y + alpha Y_u^T Y_u + l2 I) x_u = (1 + alpha) Y_u^T 1`` (``Y_u``: the rows of the user's
items), and the same for items with ``X`` fixed. ``Y^T Y`` is shared by all users, so a step never
touches the unobserved cells one by one. Each system is solved approximately by a few steps of
conjugate gradient started from the previous solution, all users (items) at once as tensor
operations: a sweep costs ``O(nnz * d + n * d^2)``.

Positive-only: every training pair counts once (ratings, if any, are ignored). Scores are the dot
product ``x_u . y_i``, so exact/approximate retrieval, similar items and fold-in work as for MF.

Recency (``--recency R``, the training option every model shares, on data with timestamps): a
pair's extra confidence grows for the user's latest interactions, ``c_ui = 1 + alpha (1 + R
exp(-r_ui / S))`` with ``r_ui`` the number of the user's pairs that came after it (0 for the
latest; ties in time go to the larger item index, as in leave-latest-one-out) and ``S`` the
``--recency-scale``. Where the item to predict is the user's next one, their recent taste matters
most (docs/model-defaults.md). Without timestamps it has no effect.
"""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from typing import Literal

from pydantic import Field, model_validator
from torch import nn
from tqdm.auto import tqdm

from deeprecs.data.recency import recency_weights
from deeprecs.data.weighting import Confidence, combine, confidence
from deeprecs.batch import Batch
from deeprecs.models import als_rows
from deeprecs.models.base import Defaults, FitData, ModelConfig, Recommender, Setting
from deeprecs.pairs import PairSet, decode, encode, sorted_unique
from deeprecs.search import float_range, int_range


class ALSStartConfig(ModelConfig):
    """Options of a model whose user and item embeddings can start from an ALS fit
    (:func:`copy_scaled_als`; the model calls it in ``fit_data``)."""

    init: Literal["random", "als"] = Field("random", description="how the embeddings start: als = from a quick implicit ALS "
                                           "fit of the train pairs (seconds), random = normal with init_std")
    init_norm: float = Field(6.0, gt=0, description="init als: the ALS vectors are scaled so that users' mean norm is this")
    init_alpha: float = Field(10.0, ge=0, description="init als: the ALS fit's confidence alpha")
    init_recency: float = Field(0.0, ge=0, description="init als: the ALS fit's recency boost (data with timestamps; "
                                "on loo splits the default is 50, with init_alpha 4, as ALS chooses there)")

    @model_validator(mode="after")
    def _als_needs_one_size(self) -> "ALSStartConfig":
        sizes = getattr(self, "user_factors", None), getattr(self, "item_factors", None)
        if self.init == "als" and sizes[0] != sizes[1]:
            raise ValueError(f"init 'als' needs user_factors == item_factors (got {sizes[0]} and {sizes[1]}): "
                             "give both the same size, or --init random")
        return self


class ALSConfig(ModelConfig):
    factors: int = Field(128, ge=1, description="embedding size d", json_schema_extra=int_range(16, 256, log=True))
    l2: float = Field(100.0, ge=0, description="ridge penalty on every user and item vector", json_schema_extra=float_range(1.0, 1000.0, log=True))
    alpha: float = Field(10.0, ge=0, description="extra confidence of an observed pair (c = 1 + alpha); "
                         "`deeprecs train als` picks it from 10, 20, 40 (4 too, on loo splits) on the validation part unless given", json_schema_extra=float_range(1.0, 100.0, log=True))
    iterations: int = Field(15, ge=0, description="alternating sweeps (users, then items)")
    cg_steps: int = Field(3, ge=1, description="conjugate-gradient steps per solve (warm-started)")
    init_std: float = Field(0.01, gt=0, description="std of the normal initialisation")
    seed: int = Field(0, description="seed of the initialisation")
    dislike_weight: float = Field(0.25, ge=0, description="a known dislike (a train rating below --positive) counts as a watched "
                                  "pair with this fraction of a positive's extra confidence (c = 1 + alpha w); 0 ignores them. "
                                  "`deeprecs train als` picks it from 0.25, 0, 0.5 on the validation part unless given", json_schema_extra=float_range(0.0, 1.0))


class ALS(Recommender):
    """Implicit-feedback ALS: ``score(u, i) = x_u . y_i``, fitted by alternating least squares."""

    Config = ALSConfig
    name = "als"
    tasks = ("ranking",)
    summary = "implicit ALS (Hu et al. 2008): weighted least squares on every cell, conjugate-gradient sweeps"
    default_loss = {"ranking": "none"}
    grid = {"alpha": (10.0, 20.0, 40.0)}
    #: where the test items are each user's latest (leave-latest-one-out with timestamps): with
    #: recency (a training option) the best alpha is lower
    next_item_grid: ClassVar[dict[str, tuple]] = {"alpha": (4.0, 10.0, 20.0, 40.0), "recency": (0.0, 50.0)}

    def __init__(self, config: ALSConfig) -> None:
        super().__init__(config)
        g = torch.Generator().manual_seed(config.seed)
        # parameters (saved, counted) that gradients never touch
        self.user_factors = nn.Parameter(torch.randn(config.n_users, config.factors, generator=g) * config.init_std, requires_grad=False)
        self.item_factors = nn.Parameter(torch.randn(config.n_items, config.factors, generator=g) * config.init_std, requires_grad=False)

    def forward(self, batch: Batch) -> torch.Tensor:
        return (self.user_factors[batch.users] * self.item_factors[batch.items]).sum(-1)

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_factors, self.item_factors

    @classmethod
    def defaults(cls, setting: Setting) -> Defaults:
        """As every model's, but recency starts at 0 where the next item is predicted: the
        validation grid tries it (:meth:`validation_grid`)."""
        out = super().defaults(setting)
        if setting.task == "ranking" and setting.next_item:
            out.train["recency"] = 0.0
        return out

    @classmethod
    def validation_grid(cls, setting: Setting) -> dict[str, tuple]:
        """Recency is tried only where the items to predict are each user's latest (elsewhere, e.g.
        ML-100K ua, the validation part is a random sample); the dislikes' weight where there are some."""
        grid = dict(cls.next_item_grid if setting.next_item else cls.grid)
        if setting.dislikes:
            grid["dislike_weight"] = (0.25, 0.0, 0.5)
        return grid

    @torch.no_grad()
    def fit_data(self, data: FitData) -> None:
        """Fit on the train pairs, on ``data.device``; the known dislikes (the pairs the user rated
        below ``--positive``) count as watched pairs (target 1) with ``dislike_weight`` times a
        positive's extra confidence: what a user watched at all, liked or not, says what they watch
        (Koren's "who rated what"; docs/model-defaults.md has the measurements)."""
        c, dislikes = self.config, data.dislikes
        pairs, weights = pair_weights(data.train, c.n_items, data.recency, data.recency_scale, data.confidence)  # one entry per pair
        conf = c.alpha * (np.ones(len(pairs), dtype=np.float32) if weights is None else np.asarray(weights, dtype=np.float32))
        target = 1.0 + conf
        if dislikes is not None and len(dislikes) and c.dislike_weight > 0:
            neg = PairSet.of(dislikes).difference(PairSet(pairs, c.n_items))
            pairs = np.r_[pairs, neg]  # (patterns sorts the cells)
            conf = np.r_[conf, np.full(len(neg), c.alpha * c.dislike_weight, dtype=np.float32)]
            target = np.r_[target, np.full(len(neg), 1.0 + c.alpha * c.dislike_weight, dtype=np.float32)]
        users, items = decode(pairs, c.n_items)
        # the busiest users and items first: the rows a solve gathers most often sit together in the
        # caches, the long tail apart (3.2 x 10^7 pairs: 210-240 ns a pair and sweep against 300-360,
        # with the fused solve's prefetch); the same fit up to rounding
        user_order, item_order = busiest_first(users, c.n_users), busiest_first(items, c.n_items)
        users, items = rank_of(user_order)[users], rank_of(item_order)[items]
        by_user = patterns(users, items, c.n_users, c.n_items, conf, target, device=self.device)
        by_item = patterns(items, users, c.n_items, c.n_users, conf, target, device=self.device)
        del users, items, pairs
        order = [torch.from_numpy(o).to(self.device) for o in (user_order, item_order)]
        x, y = self.user_factors.data[order[0]], self.item_factors.data[order[1]]
        for _ in tqdm(range(c.iterations), desc="als", unit="sweep", disable=None if data.progress else True, leave=False):
            solve_cg(x, y, *by_user, c.l2, c.cg_steps)
            solve_cg(y, x, *by_item, c.l2, c.cg_steps)
        self.user_factors.data[order[0]] = x
        self.item_factors.data[order[1]] = y


@torch.no_grad()
def copy_scaled_als(user_emb: nn.Embedding, item_emb: nn.Embedding, data: FitData, norm: float, als_options: dict | None = None,
                    recency: float = 0.0) -> float:
    """Set a model's user and item embeddings to an implicit ALS fit of ``data``'s pairs (ALS's
    defaults but ``als_options`` and ``recency``, as many factors as the embeddings are wide; the
    known dislikes learnt from as ALS does on its own), scaled by one common factor ``t`` so that
    the users' mean norm is ``norm`` (the dot products keep their order, ``t**2`` times the ALS
    scores); returns ``t``.

    An MLP over concatenated embeddings learns a scorer far more easily than it learns the
    embeddings and the scorer at once (an MLP approximates a dot product poorly, Rendle et al.
    2020). Scaling the vectors up keeps Adam's fixed-size steps small relative to them, so the
    geometry survives the first epochs (docs/model-defaults.md, "ALS starts")."""
    factors = user_emb.weight.shape[1]
    als = ALS(ALS.Config(n_users=user_emb.num_embeddings, n_items=item_emb.num_embeddings, factors=factors, **(als_options or {})))
    als.to(user_emb.weight.device).fit_data(data.replace(recency=recency, recency_scale=5.0, progress=False))
    users, items = als.retrieval_vectors()
    scale = norm / users.norm(dim=1).mean().clamp_min(1e-12)
    user_emb.weight.copy_(users * scale)
    item_emb.weight.copy_(items * scale)
    return float(scale)


def als_start(model: Recommender, user_emb: nn.Embedding, item_emb: nn.Embedding, data: FitData, norm: float) -> float:
    """Start ``model``'s ``user_emb``/``item_emb`` (an :class:`~deeprecs.models.base.ALSStartConfig`
    model) from ALS fitted with its ``init_*`` options, scaled to ``norm``; returns the scale."""
    c = model.config
    return copy_scaled_als(user_emb, item_emb, data, norm, {"alpha": c.init_alpha}, recency=c.init_recency)


def start_if_asked(model: Recommender, data: FitData) -> None:
    """``fit_data`` of a model with an :class:`~deeprecs.models.base.ALSStartConfig`: its
    ``user_emb``/``item_emb`` start from ALS (learning from the known dislikes too) when ``init``
    is ``als``."""
    if model.config.init == "als":
        als_start(model, model.user_emb, model.item_emb, data, model.config.init_norm)


def pair_weights(train, n_items: int, recency: float, scale: float, kind: Confidence = "log") -> tuple[np.ndarray, np.ndarray | None]:  # noqa: ANN001
    """``(pairs, weights)``: the distinct pairs as sorted keys (:mod:`deeprecs.pairs`), and each
    pair's weight: the confidence of its rows' summed weights (:mod:`deeprecs.data.weighting`) times
    its recency boost from :func:`deeprecs.data.recency.recency_weights` (a pair's time: its latest
    timestamp); ``None`` (all 1) when there are neither weights nor (``recency`` 0, no timestamps) a boost."""
    codes = encode(train.users, train.items, n_items)
    counted = None
    if train.weights is not None:
        pairs, where = np.unique(codes, return_inverse=True)
        counted = confidence(np.bincount(where, weights=train.weights, minlength=len(pairs)), kind)
    if recency <= 0 or train.timestamps is None:
        return (sorted_unique(codes), None) if counted is None else (pairs, counted)
    order = np.lexsort((train.timestamps, codes))  # by pair, latest timestamp last
    codes, ts = codes[order], train.timestamps[order]
    last = np.r_[codes[1:] != codes[:-1], True]
    pairs = codes[last]  # sorted distinct pairs
    return pairs, combine(recency_weights(*decode(pairs, n_items), ts[last], recency, scale), counted)


def busiest_first(ids: np.ndarray, n: int) -> np.ndarray:
    """The ids ``0..n-1`` ordered by how often they occur in ``ids``, most first (ties by id)."""
    return np.argsort(-np.bincount(ids, minlength=n), kind="stable")


def rank_of(order: np.ndarray) -> np.ndarray:
    """The inverse permutation: ``rank_of(order)[order[k]] == k``."""
    rank = np.empty(len(order), dtype=np.int32 if len(order) < 2**31 else np.int64)
    rank[order] = np.arange(len(order))
    return rank


def pattern(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int, values: np.ndarray | None = None) -> torch.Tensor:
    """The observed pairs as a sparse CSR ``(n_rows, n_cols)`` matrix of ``values`` (default ones:
    every pair's confidence weight is 1)."""
    return patterns(rows, cols, n_rows, n_cols, np.ones(len(rows), dtype=np.float32) if values is None else values)[0]


def patterns(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int, *values: np.ndarray,
             device: torch.device | str = "cpu") -> tuple[torch.Tensor, ...]:
    """One sparse CSR ``(n_rows, n_cols)`` matrix per array of ``values``, all on the distinct cells
    ``(rows, cols)`` and on ``device``: the cells are ordered once and the index shared."""
    order = cell_order(rows, cols, n_rows, n_cols)
    crow = np.zeros(n_rows + 1, dtype=np.int64)
    crow[1:] = np.cumsum(np.bincount(rows, minlength=n_rows))
    crow, col = torch.from_numpy(crow).to(device), torch.from_numpy(cols[order].astype(np.int64)).to(device)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return tuple(torch.sparse_csr_tensor(crow, col, torch.from_numpy(np.asarray(v, dtype=np.float32)[order]).to(device), (n_rows, n_cols))
                     for v in values)


def cell_order(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray | slice:
    """The order of the distinct cells ``(rows, cols)`` by row, then column: none where they are in
    it already (ALS's pairs by user), else a CSR conversion's (a counting sort by row, then each
    row's columns sorted: 3.3 s for 2.6 x 10^7 cells where ``np.lexsort`` takes 8-20 s)."""
    key = encode(rows, cols, n_cols)
    if (key[1:] > key[:-1]).all():
        return slice(None)
    return sp.csr_matrix((np.arange(len(key), dtype=np.int64), (rows, cols)), shape=(n_rows, n_cols)).data


def solve_cg(x: torch.Tensor, y: torch.Tensor, conf: torch.Tensor, target: torch.Tensor, l2: float, steps: int, fused: bool = True) -> None:
    """Update ``x`` in place: a few CG steps on every row's system, all rows at once.

    ``x (n, d)`` the side being solved, ``y (m, d)`` the fixed side; ``conf`` and ``target`` the
    ``(n, m)`` CSR matrices (same pattern) of the observed cells' extra confidence ``c_rc - 1``
    and of ``c_rc p_rc`` (``alpha w`` and ``1 + alpha w`` for a pair of weight ``w``). Row ``r`` solves
    ``(y^T y + l2 I + sum_{c in r} (c_rc - 1) y_c y_c^T) x_r = sum_{c in r} c_rc p_rc y_c``.
    The sparse part of ``A v`` is two sparse products: ``v_r . y_c`` on the observed cells
    (a sampled matrix product), then those values, weighted, times ``y``.

    On a CPU the rows are solved one by one, each with its whole CG on its own cells
    (:mod:`deeprecs.models.als_rows`, the same arithmetic; the fixed side's rows stay in cache);
    ``fused=False``, or another device, takes the batched sparse products.
    """
    d = x.shape[1]
    gram = y.T @ y + l2 * torch.eye(d, dtype=y.dtype, device=y.device)
    if fused and als_rows.available(x):
        als_rows.solve_rows(x, y, gram, conf, target, steps)
        return
    crow, col, w = conf.crow_indices(), conf.col_indices(), conf.values()

    def apply(v: torch.Tensor) -> torch.Tensor:  # A v for every row, (n, d)
        dots = torch.sparse.sampled_addmm(conf, v, y.T, beta=0.0).values()
        weighted = torch.sparse_csr_tensor(crow, col, w * dots, conf.shape)
        return v @ gram + weighted @ y

    r = target @ y - apply(x)
    p = r.clone()
    rs = (r * r).sum(1, keepdim=True)
    for _ in range(steps):
        ap = apply(p)
        pap = (p * ap).sum(1, keepdim=True)
        step = torch.where(pap > 0, rs / pap.clamp(min=1e-30), torch.zeros_like(pap))
        x.add_(step * p)
        r.sub_(step * ap)
        rs_new = (r * r).sum(1, keepdim=True)
        p = r + torch.where(rs > 0, rs_new / rs.clamp(min=1e-30), torch.zeros_like(rs)) * p
        rs = rs_new
