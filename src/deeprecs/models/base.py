"""The contract every model keeps.

A model is an ``nn.Module`` with a typed (pydantic) config. It scores a :class:`~deeprecs.batch.Batch`
(user ids, item ids and, where the model reads them, user/item feature bags and each user's
ordered history), on whatever device it lives on:

- ``forward(batch) -> (B,)``: one score per ``(users[b], items[b])`` pair — a predicted rating
  for the ``rating`` task, a preference score for ``ranking``;
- ``score_candidates(batch) -> (B, m)``: each user's scores of their own ``items (B, m)`` (in
  training: a positive and its negatives);
- ``score_all(batch) -> (B, n_items)``: every item;
- ``retrieval_vectors() -> (U, V)`` when ``score(u, i) = U[u] . V[i] + score_constant()``, which
  the retrieval layer uses for exact/approximate top-K, similar items and fold-in;
  ``query_vectors(batch)``: the batch's rows of ``U`` (a model that reads the batch's history or
  features computes them from it).

All four agree wherever they are defined (the contract test checks it for every model, on every
device the machine has). What is special about a model, it owns, through class attributes and
hooks the pipeline calls without knowing which model it has:

- ``defaults(setting)``: its options for a task and setting (leave-latest-one-out, pre-training),
  ``validation_grid(setting)``: the options chosen on the validation part unless given;
- ``fit_data(data)``: one hook, one signature (:class:`FitData`), for what it learns from the data
  itself: a closed-form fit (EASE, ALS), data-dependent buffers (SVD++'s item sets), a start
  (embeddings from ALS);
- ``make_task(task, data, cfg)``: its training task (``None``: nothing to train by gradients);
- ``observe(known)``: what is known of the users at scoring time beyond the training data (a
  sequential model's histories);
- ``fit(ctx)`` / ``refit(ctx, history, epochs)``: how it is trained and refitted (default: the one training
  loop, a fresh model or, with ``warm_refits``, the fitted one trained on; a blend trains its members, then its weights);
- ``warm_start(runs, ctx, final)``: its start from trained runs (``--pretrain``);
- ``forget_cold(cold_users, cold_items, task)``: what it does for ids without training data, on
  the tables it declares as user- and item-indexed (``user_tables``, ``item_tables``).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from deeprecs.batch import Batch, FeatureBag
from deeprecs.errors import ConfigError
from deeprecs.memory import Budget
from deeprecs.models.contract import Defaults, FitData, Setting, TrainingContext  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from deeprecs.data.interactions import Interactions
    from deeprecs.training import History, TrainConfig


class ModelConfig(BaseModel):
    """Base of every model's config: sizes of the vocabularies are filled in by the trainer."""

    model_config = ConfigDict(extra="forbid")

    n_users: int = 0
    n_items: int = 0
    #: sizes of the user and item feature vocabularies (:mod:`deeprecs.data.features`), filled in
    #: by the trainer for a model that reads features (``Recommender.inputs``); 0: none
    n_user_features: int = 0
    n_item_features: int = 0


#: training defaults where each user's held-out item is their latest one: draw recent positives more
#: often (docs/model-defaults.md, "recency"); ``--recency 0`` turns it off
NEXT_ITEM_TRAIN_DEFAULTS = {"recency": 20.0, "recency_scale": 5.0}
#: model defaults there for a model whose embeddings start from ALS: fitted as ALS chooses on
#: leave-latest-one-out (docs/model-defaults.md)
NEXT_ITEM_ALS_START = {"init_alpha": 4.0, "init_recency": 50.0}


class Recommender(nn.Module):
    """Base class. Subclasses set ``Config``, ``name``, ``tasks`` and ``summary``."""

    Config: ClassVar[type[ModelConfig]] = ModelConfig
    name: ClassVar[str] = ""
    tasks: ClassVar[tuple[str, ...]] = ("rating", "ranking")
    summary: ClassVar[str] = ""
    #: loss used when the user gives none, per task ("none": nothing to train by gradients)
    default_loss: ClassVar[dict[str, str]] = {"rating": "mse", "ranking": "bpr"}
    #: the loss is part of the model (a preset such as bpr-mf): ``--loss`` may not change it
    fixed_loss: ClassVar[bool] = False
    #: rating task: predict around the training mean (False: the model predicts raw ratings)
    centered: ClassVar[bool] = True
    #: product defaults per task, chosen on validation data (docs/model-defaults.md): model options ...
    model_defaults: ClassVar[dict[str, dict]] = {}
    #: ... and training-loop options (:class:`deeprecs.training.TrainConfig` fields); a key
    #: ``f"{task}-pretrained"`` holds those of a model fine-tuned from ``--pretrain`` runs
    train_defaults: ClassVar[dict[str, dict]] = {}
    #: whether the protocol's refit on train + validation (loo, NCF files) is worth its cost for
    #: this model by default; False: the model keeps its validation fit and reads the validation
    #: part as what is known of the users at test time (``observe``); ``--refit`` still refits
    refits: ClassVar[bool] = True
    #: whether the model takes a warm refit (``--refit-epochs N``): its validation fit's weights
    #: trained N more epochs on train + validation, after ``observe`` of the larger part (a model
    #: whose ``fit_data`` learns only what ``observe`` renews, as the sequential models' histories)
    warm_refits: ClassVar[bool] = False
    #: options chosen on the validation part unless given (each value: one more closed-form fit)
    grid: ClassVar[dict[str, tuple]] = {}
    #: the optional :class:`~deeprecs.batch.Batch` parts the model reads
    inputs: ClassVar[frozenset[str]] = frozenset()
    #: names of the tables (``nn.Embedding`` or parameters) indexed by user and by item
    user_tables: ClassVar[tuple[str, ...]] = ()
    item_tables: ClassVar[tuple[str, ...]] = ()
    #: what ``--pretrain`` takes, for help and errors ("" : the model does not warm start from runs)
    pretrain_takes: ClassVar[str] = ""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        #: offset added to rating predictions (the training mean), set by the rating task
        self.register_buffer("rating_offset", torch.zeros(()))

    @property
    def device(self) -> torch.device:
        return self.rating_offset.device

    def keep(self, name: str, value: torch.Tensor) -> None:
        """Set buffer ``name`` to ``value`` (on the model's device): data-dependent state learnt
        in :meth:`fit_data`, saved with the weights."""
        setattr(self, name, value.to(self.device))

    # -------------------------------------------------------------- scoring
    def forward(self, batch: Batch) -> torch.Tensor:  # items (B,) -> (B,)
        raise NotImplementedError

    def score_all(self, batch: Batch, chunk: int = 1 << 20) -> torch.Tensor:
        """``(B, n_items)`` scores of every item. Generic version: the retrieval vectors' product
        (users given by features: their :meth:`query_vectors`), else ``forward`` on every pair in chunks."""
        n_items = self.config.n_items
        users = batch.users
        vectors = self.retrieval_vectors()
        if vectors is not None:
            queries = vectors[0][users] if batch.user_features is None else self.query_vectors(batch)
            return queries @ vectors[1].T + self.score_constant()
        out = torch.empty(len(users), n_items, device=users.device)
        rows_per_chunk = max(1, chunk // max(n_items, 1))
        all_items = torch.arange(n_items, device=users.device)
        for start in range(0, len(users), rows_per_chunk):
            part = row_slice(batch, start, start + rows_per_chunk)
            out[start : start + len(part)] = self.score_candidates(part.with_items(all_items.expand(len(part), -1)))
        return out

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        """``items (B, m)`` -> ``(B, m)``: each user's scores of their own ``m`` candidates. Generic
        version: ``forward`` on the flattened pairs; factor and MLP models override it to look each
        user up once."""
        b, m = batch.items.shape
        flat = Batch(batch.users.repeat_interleave(m), batch.items.reshape(-1), item_features=batch.item_features,
                     history=None if batch.history is None else batch.history.repeat_interleave(m, 0))
        if batch.user_features is not None:
            raise ConfigError(f"{self.name} cannot score candidates of users given by features; it has no user features")
        return self.forward(flat).view(b, m)

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(U (n_users, d), V (n_items, d))`` with ``score(u, i) = U[u] @ V[i] + score_constant()``,
        or ``None`` when the model is not a dot product (an MLP scorer)."""
        return None

    def query_vectors(self, batch: Batch) -> torch.Tensor | None:
        """``(B, d)``: the batch's users' rows of ``U`` (``None``: not a dot-product model)."""
        vectors = self.retrieval_vectors()
        return None if vectors is None else vectors[0][batch.users]

    def score_constant(self) -> torch.Tensor:
        return self.rating_offset

    def item_embeddings(self) -> torch.Tensor | None:
        """The learned item vectors, for similar items, clustering and plots."""
        vecs = self.retrieval_vectors()
        return None if vecs is None else vecs[1]

    def user_embeddings(self) -> torch.Tensor | None:
        vecs = self.retrieval_vectors()
        return None if vecs is None else vecs[0]

    def new_item_embeddings(self, given: FeatureBag) -> torch.Tensor | None:
        """``(B, d)``: items the model has no row for, given by their features alone (``given``, B
        rows), in :meth:`item_embeddings`' space (similar items of a new item); ``None``: the model
        cannot tell."""
        return None

    # -------------------------------------------------------------- training hooks
    def fit_data(self, data: FitData) -> None:
        """Learn what the model learns from the data itself, before (or instead of) gradient
        training: a closed-form fit, data-dependent buffers, a start. Default: nothing."""

    def observe(self, known: Interactions) -> None:
        """Take in what is known of the users when they are scored, where that is more than the
        model was trained on (the validation part of a run that is not refitted): a sequential model
        reads their latest items from it. Default: nothing (a model learns its users in training)."""

    def make_task(self, task: str, data: FitData, cfg: TrainConfig):  # noqa: ANN201 - a training task or None
        """The training task: regression on ratings, or positives against sampled negatives with
        ``cfg.loss``; ``None`` for a model with nothing to train by gradients (loss ``none``)."""
        from deeprecs.training import RankingTask, RatingTask

        if task == "rating":
            return RatingTask(data.train, data.device)
        return RankingTask(data.train, cfg, data.device) if cfg.loss != "none" else None

    def regularization(self, batch: Batch) -> torch.Tensor:
        """Penalty on the parameters a batch touched (per-example L2, SGD-style): ``config.l2``
        times the batch mean of the squared user/item embedding rows (``user_emb``/``item_emb``)
        and biases (``user_bias``/``item_bias``) that the model has."""
        l2 = getattr(self.config, "l2", 0.0)
        users, items = batch.users, batch.items
        if not l2:
            return torch.zeros((), device=users.device)
        reg = torch.zeros(len(users), device=users.device)
        for name, idx in (("user_emb", users), ("item_emb", items), ("user_bias", users), ("item_bias", items)):
            table = getattr(self, name, None)
            if isinstance(table, nn.Embedding):
                reg = reg + table(idx).pow(2).sum(-1)
        return l2 * reg.mean()

    def after_step(self) -> None:
        """Called after each optimiser step (e.g. projection onto constraints)."""

    def fit(self, ctx: TrainingContext) -> History:
        """Train after :meth:`fit_data` (and any warm start): the one training loop, with early
        stopping on the validation part where there is one; a start from trained runs competes
        as epoch 0."""
        return ctx.loop(self, pretrained=bool(ctx.runs()))

    def refit(self, ctx: TrainingContext, history: History, epochs: int = 0) -> "Recommender":
        """The model fitted again on ``ctx``'s data (train + validation) with everything validation
        chose kept: its options, the epochs early stopping kept (the best), a warm start from the
        runs' final models. ``epochs`` > 0 (``--refit-epochs``, a model that declares
        ``warm_refits``): a copy of this model, its validation fit's weights, trained that many more
        epochs on ``ctx``'s data instead."""
        if epochs:
            warm = copy.deepcopy(self)
            warm.observe(ctx.split.train)
            ctx.loop(warm, epochs=epochs)
            return warm
        fresh = ctx.build(self.name, options(self))
        if ctx.runs():
            fresh.warm_start(ctx.runs(), ctx, final=True)
        if history.best_epoch >= 1:
            ctx.loop(fresh, epochs=history.best_epoch)
        return fresh

    def warm_start(self, runs: list, ctx: TrainingContext, final: bool = False) -> None:  # noqa: ARG002
        """Start from trained runs (``--pretrain``): their validation models (those that never saw
        the validation part), or with ``final`` their final models."""
        raise ConfigError(f"{self.name} does not start from trained runs (--pretrain)")

    @classmethod
    def pretrain_options(cls, runs: list, given: dict) -> dict:  # noqa: ARG003
        """The model options ``--pretrain`` runs imply (e.g. a branch's size); raises where the
        options the user ``given`` contradict them."""
        return {}

    @torch.no_grad()
    def forget_cold(self, cold_users: torch.Tensor, cold_items: torch.Tensor, task: str) -> None:
        """Zero the rows of users/items with no training data in the declared tables, so that they
        are predicted from the global mean plus what is known (PROTOCOLS.md); for ranking, items
        with no training positive then go to the bottom of every list (:meth:`rank_cold_items_last`)."""
        self.zero_cold(cold_users, cold_items)
        if task == "ranking" and cold_items.any() and not cold_items.all():
            self.rank_cold_items_last(cold_items)

    @torch.no_grad()
    def zero_cold(self, cold_users: torch.Tensor, cold_items: torch.Tensor) -> None:
        """Zero the cold rows of the tables the model declares (``user_tables``, ``item_tables``):
        a user table and an item table are told apart by name, never by their length."""
        zero_rows(self, self.user_tables, cold_users)
        zero_rows(self, self.item_tables, cold_items)

    @torch.no_grad()
    def rank_cold_items_last(self, cold_items: torch.Tensor) -> None:
        """Ranking: an item with no training positive has no evidence for anyone, so it goes below
        every item with some. A zero vector alone would score ``0`` (for a dot product: the middle
        of the list, above many items learned as negatives); a model with item biases gets
        ``b_cold = min(b_warm) - 2 max|P| max|Q|``, so that (Cauchy-Schwarz) every warm item
        outscores it for every user. Models without item biases keep the zero vector (the triplet
        model ranks a zero vector last by itself)."""
        bias = getattr(self, "item_bias", None)
        vectors = getattr(self, "user_emb", None), getattr(self, "item_emb", None)
        if not isinstance(bias, nn.Embedding) or not all(isinstance(v, nn.Embedding) for v in vectors):
            return
        bound = vectors[0].weight.norm(dim=1).max() * vectors[1].weight.norm(dim=1).max()
        bias.weight[cold_items] = bias.weight[~cold_items].min() - 2 * bound - 1

    # -------------------------------------------------------------- choices
    @classmethod
    def defaults(cls, setting: Setting) -> Defaults:
        """Model options, training options and loss in ``setting``, lowest precedence first: the
        class's per-task tables (a pre-trained fine-tune's own entry), then, where the next item
        is predicted, recent positives drawn more often and an ALS start fitted as ALS chooses there.
        The pipeline puts ``--pretrain`` runs' options (:meth:`pretrain_options`) and the user's over these."""
        task = setting.task
        model = dict(cls.model_defaults.get(task, {}))
        table = cls.train_defaults
        train = dict(table.get(f"{task}-pretrained", table.get(task, {})) if setting.pretrain else table.get(task, {}))
        if task == "ranking" and setting.next_item:
            train.update(NEXT_ITEM_TRAIN_DEFAULTS)
            model.update({k: v for k, v in NEXT_ITEM_ALS_START.items() if k in cls.Config.model_fields})
        return Defaults(model, train, cls.default_loss.get(task, ""))

    @classmethod
    def memory_estimate(cls, options: dict, n_users: int, n_items: int) -> int:  # noqa: ARG003
        """Peak bytes of dense memory that building and fitting with ``options`` needs beyond the
        data (0: nothing that grows faster than the data; item-item models: ``n_items`` squared)."""
        return 0

    @classmethod
    def within_budget(cls, options: dict, n_users: int, n_items: int, budget: Budget) -> dict:
        """``options`` that fit ``budget`` (:mod:`deeprecs.memory`), checked before anything is
        allocated: refuse with one line, or (a blend) leave out what does not fit."""
        budget.require(cls.memory_estimate(options, n_users, n_items), f"{cls.name} on {n_items:,} items",
                       "choose a model without an items x items matrix (als, bpr-mf)")
        return options

    @classmethod
    def validation_grid(cls, setting: Setting) -> dict[str, tuple]:  # noqa: ARG003
        """The options chosen on the validation part unless given, with the values tried."""
        return dict(cls.grid)

    # -------------------------------------------------------------- weights
    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        """``load_state_dict`` that first resizes data-dependent buffers (e.g. SVD++'s item sets)."""
        buffers = dict(self.named_buffers())
        for name, tensor in state.items():
            if name in buffers and buffers[name].shape != tensor.shape:
                owner, _, attr = name.rpartition(".")
                module = self.get_submodule(owner) if owner else self
                setattr(module, attr, torch.empty_like(tensor, device=buffers[name].device))
        self.load_state_dict(state)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def options(model: Recommender) -> dict:
    """The options ``model`` was built with (its config, less the data's sizes)."""
    return {k: v for k, v in model.config.model_dump().items() if k not in SIZES}


#: the config fields the trainer fills in from the data
SIZES = ("n_users", "n_items", "n_user_features", "n_item_features")


def reads_features(cls: type["Recommender"] | "Recommender") -> bool:
    """Whether a model (its class or an instance) reads user or item features."""
    return bool({"user_features", "item_features"} & cls.inputs)


def reads_history(cls: type["Recommender"] | "Recommender") -> bool:
    """Whether a model (its class or an instance) reads each user's items in time order."""
    return "history" in cls.inputs


def zero_rows(model: nn.Module, names: tuple[str, ...], rows: torch.Tensor) -> None:
    """Zero ``rows`` (a bool mask) of each named table of ``model`` (an ``nn.Embedding``'s weight
    or a parameter)."""
    if not rows.any():
        return
    for name in names:
        table = getattr(model, name, None)
        weight = table.weight if isinstance(table, nn.Embedding) else table
        if weight is not None:
            weight[rows.to(weight.device)] = 0


def row_slice(batch: Batch, start: int, stop: int) -> Batch:
    """Rows ``start:stop`` of a batch without item features (users, their items, history)."""
    if batch.user_features is not None:
        raise ConfigError("a batch of users given by features is scored in one piece")
    return Batch(batch.users[start:stop], None if batch.items is None else batch.items[start:stop],
                 history=None if batch.history is None else batch.history[start:stop])
