"""The contract every model keeps.

A model is an ``nn.Module`` with a typed (pydantic) config. It scores ``(user, item)`` pairs:
``forward(users (B,), items (B,)) -> scores (B,)`` — a predicted rating for the ``rating`` task,
a preference score for the ``ranking`` task. ``score_all(users (B,)) -> (B, n_items)`` scores every
item; factor models override it with one matrix product. Models that are a dot product of a
user and an item vector expose them through :meth:`Recommender.retrieval_vectors`, which the
retrieval layer uses for exact/approximate top-K, similar items and fold-in of new users.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn


class ModelConfig(BaseModel):
    """Base of every model's config: sizes of the vocabularies are filled in by the trainer."""

    model_config = ConfigDict(extra="forbid")

    n_users: int = 0
    n_items: int = 0


class ALSStartConfig(ModelConfig):
    """Options of a model whose user and item embeddings can start from an ALS fit
    (:func:`deeprecs.models.als.start_from_als`; the model calls it in ``fit_extra``)."""

    init: Literal["random", "als"] = Field("random", description="how the embeddings start: als = from a quick implicit ALS "
                                           "fit of the train pairs (seconds), random = normal with init_std")
    init_norm: float = Field(6.0, gt=0, description="init als: the ALS vectors are scaled so that users' mean norm is this")
    init_alpha: float = Field(10.0, ge=0, description="init als: the ALS fit's confidence alpha")
    init_recency: float = Field(0.0, ge=0, description="init als: the ALS fit's recency boost (data with timestamps; "
                                "on loo splits the default is 50, with init_alpha 4, as ALS chooses there)")

    def als_options(self) -> dict:
        """The options of the ALS fit that the embeddings start from."""
        return {"alpha": self.init_alpha, "recency": self.init_recency}

    @model_validator(mode="after")
    def _als_needs_one_size(self) -> "ALSStartConfig":
        sizes = getattr(self, "user_factors", None), getattr(self, "item_factors", None)
        if self.init == "als" and sizes[0] != sizes[1]:
            raise ValueError(f"init 'als' needs user_factors == item_factors (got {sizes[0]} and {sizes[1]}): "
                             "give both the same size, or --init random")
        return self


class Recommender(nn.Module):
    """Base class. Subclasses set ``Config``, ``name``, ``tasks`` and ``summary``."""

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    name: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ("rating", "ranking")
    summary: ClassVar[str] = ""
    #: loss used when the user gives none, per task
    default_loss: ClassVar[dict[str, str]] = {"rating": "mse", "ranking": "bpr"}
    #: rating task: predict around the training mean (False: the model predicts raw ratings)
    centered: ClassVar[bool] = True
    #: product defaults per task, chosen on validation data (see benchmarks/): model options ...
    model_defaults: ClassVar[dict[str, dict]] = {}
    #: ... and training-loop options (deeprecs.training.TrainConfig fields)
    train_defaults: ClassVar[dict[str, dict]] = {}
    #: ``fit_extra(train, dislikes=...)`` learns from the known dislikes (see :func:`fit_extra`)
    uses_dislikes: ClassVar[bool] = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        #: offset added to rating predictions (the training mean), set by the rating task
        self.register_buffer("rating_offset", torch.zeros(()))

    # -------------------------------------------------------------- scoring
    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:  # (B,), (B,) -> (B,)
        raise NotImplementedError

    def score_all(self, users: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor:
        """``(B,)`` users -> ``(B, n_items)`` scores. Generic version: pairwise in chunks."""
        n_items = self.config.n_items
        vectors = self.retrieval_vectors()
        if vectors is not None:
            u, v = vectors
            return u[users] @ v.T + self.score_constant()
        out = torch.empty(len(users), n_items)
        rows_per_chunk = max(1, chunk // max(n_items, 1))
        all_items = torch.arange(n_items)
        for start in range(0, len(users), rows_per_chunk):
            uu = users[start : start + rows_per_chunk]
            pu = uu.repeat_interleave(n_items)
            pi = all_items.repeat(len(uu))
            out[start : start + len(uu)] = self.forward(pu, pi).view(len(uu), n_items)
        return out

    def score_candidates(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``users (B,)``, ``items (B, m)`` -> ``(B, m)``: each user's scores of their own ``m``
        candidates (in training: a positive and its sampled negatives). Generic version: ``forward``
        on the flattened pairs; factor and MLP models override it to look each user up once."""
        b, m = items.shape
        return self.forward(users.repeat_interleave(m), items.reshape(-1)).view(b, m)

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(U (n_users, d), V (n_items, d))`` with ``score(u, i) = U[u] @ V[i] + score_constant()``,
        or ``None`` when the model is not a dot product (an MLP scorer)."""
        return None

    def score_constant(self) -> torch.Tensor:
        return self.rating_offset

    def item_embeddings(self) -> torch.Tensor | None:
        """The learned item vectors, for similar items, clustering and plots."""
        vecs = self.retrieval_vectors()
        return None if vecs is None else vecs[1]

    def user_embeddings(self) -> torch.Tensor | None:
        vecs = self.retrieval_vectors()
        return None if vecs is None else vecs[0]

    # -------------------------------------------------------------- training hooks
    def regularization(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Penalty on the parameters a batch touched (per-example L2, SGD-style): ``config.l2``
        times the batch mean of the squared user/item embedding rows (``user_emb``/``item_emb``)
        and biases (``user_bias``/``item_bias``) that the model has."""
        l2 = getattr(self.config, "l2", 0.0)
        if not l2:
            return torch.zeros(())
        reg = torch.zeros(len(users))
        for name, idx in (("user_emb", users), ("item_emb", items), ("user_bias", users), ("item_bias", items)):
            table = getattr(self, name, None)
            if isinstance(table, nn.Embedding):
                reg = reg + table(idx).pow(2).sum(-1)
        return l2 * reg.mean()

    def after_step(self) -> None:
        """Called after each optimiser step (e.g. projection onto constraints)."""

    def fit_extra(self, train) -> None:  # noqa: ANN001 - Interactions
        """Give the model what it needs from the training data before fitting (e.g. SVD++'s
        implicit item sets, popularity counts). Default: nothing."""

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        """``load_state_dict`` that first resizes data-dependent buffers (e.g. SVD++'s item sets)."""
        buffers = dict(self.named_buffers())
        for name, tensor in state.items():
            if name in buffers and buffers[name].shape != tensor.shape:
                owner, _, attr = name.rpartition(".")
                module = self.get_submodule(owner) if owner else self
                setattr(module, attr, torch.empty_like(tensor))
        self.load_state_dict(state)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def fit_extra(model: Recommender, train, dislikes=None) -> None:  # noqa: ANN001 - Interactions
    """``model.fit_extra(train)``, handing a model that learns from them (``uses_dislikes``) the
    known dislikes too: the train pairs rated below ``--positive``
    (:attr:`deeprecs.data.dataset.Split.dislikes`)."""
    if dislikes is not None and len(dislikes) and model.uses_dislikes:
        model.fit_extra(train, dislikes=dislikes)
    else:
        model.fit_extra(train)


def init_embedding(n: int, d: int, std: float = 0.01, sparse: bool = False) -> nn.Embedding:
    emb = nn.Embedding(n, d, sparse=sparse)
    nn.init.normal_(emb.weight, std=std)
    return emb


def mlp(sizes: list[int], dropout: float = 0.0, activation: type[nn.Module] = nn.ReLU, final_activation: bool = True) -> nn.Sequential:
    """``sizes[0] -> sizes[1] -> ...`` dense layers with activation and dropout between."""
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        last = k == len(sizes) - 2
        if not last or final_activation:
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def concat_mlp_score_all(
    user_vecs: torch.Tensor,
    item_vecs: torch.Tensor,
    layers: list[nn.Module],
    budget: int = 1 << 18,
) -> torch.Tensor:
    """Scores of an MLP over ``[user; item]`` for every item: ``user_vecs (B, a)``,
    ``item_vecs (n_items, b)`` -> ``(B, n_items)``.

    ``layers``: the scorer as a flat list whose first module is the ``nn.Linear`` on the
    concatenation. That layer splits into ``W_u u + W_i i + b``, so each side is multiplied
    once (``B + n_items`` rows instead of ``B * n_items``); the remaining layers run on the
    broadcast sum in chunks of at most ``budget`` activations: small enough to stay in cache
    (943 x 1682 items, 64 hidden, 1 thread: 0.36 s at 2^23, 0.13 s at 2^18), with ReLUs in place
    when no gradient is wanted.
    """
    first = layers[0]
    rest = nn.Sequential(*(nn.ReLU(inplace=True) if isinstance(m, nn.ReLU) and not torch.is_grad_enabled() else m for m in layers[1:]))
    a = user_vecs.shape[1]
    left = user_vecs @ first.weight[:, :a].T + first.bias  # (B, h)
    right = item_vecs @ first.weight[:, a:].T  # (n_items, h)
    n_items, h = right.shape
    rows = max(1, budget // max(n_items * h, 1))
    out = [rest(left[s : s + rows, None, :] + right[None]).reshape(-1, n_items) for s in range(0, len(left), rows)]
    return torch.cat(out) if out else torch.empty(0, n_items)


def dot_candidates(user_vecs: torch.Tensor, item_vecs: torch.Tensor) -> torch.Tensor:
    """``user_vecs (B, d)`` . each of ``item_vecs (B, m, d)`` -> ``(B, m)``. (A broadcast product
    and sum: on the CPU it beats ``bmm`` for these thin shapes, forward and backward.)"""
    return (item_vecs * user_vecs.unsqueeze(1)).sum(-1)


def concat_mlp_candidates(user_vecs: torch.Tensor, item_vecs: torch.Tensor, layers: list[nn.Module]) -> torch.Tensor:
    """An MLP over ``[user; item]`` for each user's own candidates: ``user_vecs (B, a)``,
    ``item_vecs (B, m, b)`` -> ``(B, m, out)``. The first ``nn.Linear`` splits as in
    :func:`concat_mlp_score_all`, so each user's side is multiplied once, not ``m`` times."""
    first, rest = layers[0], nn.Sequential(*layers[1:])
    a = user_vecs.shape[1]
    left = user_vecs @ first.weight[:, :a].T + first.bias  # (B, h)
    right = item_vecs @ first.weight[:, a:].T  # (B, m, h)
    return rest(left.unsqueeze(1) + right)


def flat_layers(*modules: nn.Module) -> list[nn.Module]:
    """Leaf modules of nested ``nn.Sequential`` containers, in order."""
    out: list[nn.Module] = []
    for m in modules:
        out.extend(flat_layers(*m) if isinstance(m, nn.Sequential) else [m])
    return out


def csr_gather(indptr: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Positions of the stored entries of CSR ``rows``, flattened in row order.

    ``indptr (n_rows + 1,)``, ``rows (B,)`` -> ``(batch_row (nnz,), position (nnz,), lengths (B,))``:
    entry ``k`` belongs to ``rows[batch_row[k]]`` and sits at ``indices[position[k]]``.
    """
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    offsets = torch.cumsum(lengths, 0) - lengths
    batch_row = torch.repeat_interleave(torch.arange(len(rows)), lengths)
    position = torch.repeat_interleave(starts - offsets, lengths) + torch.arange(int(lengths.sum()))
    return batch_row, position, lengths
