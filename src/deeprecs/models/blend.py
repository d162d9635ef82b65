"""A linear blend of models (the Netflix-prize lesson: diverse models err differently).

Each member is trained on its own with its own defaults (a preset such as ``bpr-mf`` brings
its loss and options); then the blend weights are fitted on the **validation** part, never on
test data. Members are full models, saved inside the blend's state dict.

* ``rating``: ``r_hat = w_0 + sum_k w_k * r_hat_k``, weights by least squares.
* ``ranking``: ``s = sum_k w_k * z_k``, with ``z_k`` member ``k``'s scores standardised per user
  (over the items with training data: members' scales differ wildly, EASE's from MF's), weights on a grid of the
  simplex (steps of 0.1) maximising the validation metric of the protocol (AUC, or sampled
  NDCG@10 for leave-one-out); a member that does not help gets weight 0.
* ``ranking`` with ``combiner: mlp``: ``s = f(z_1, ..., z_k, pop_i, act_u)``, a small network over
  the members' standardised scores, the item's popularity and the user's activity (log counts),
  trained listwise (softmax over each validation item and its sampled negatives) on the validation
  candidates. It can learn what a fixed weight vector cannot: that an item-item model's scores count
  for more with heavy users, a factor model's with light ones. It is kept only when it beats the linear
  blend in 5-fold cross-validation over the validation users (see :func:`train_combiner`).
"""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from deeprecs.batch import Batch
from deeprecs.errors import ConfigError
from deeprecs.memory import OPTION, Budget, gib
from deeprecs.models.base import Defaults, FitData, ModelConfig, Recommender, Setting, TrainingContext, options
from deeprecs.models.blending import cold_items_last, combiner_network, fit_blend, standardize
from deeprecs.models.registry import build_model, get_model_class

log = logging.getLogger("deeprecs")


class BlendConfig(ModelConfig):
    task: Literal["rating", "ranking"] = Field("rating", description="what the members are trained for")
    members: list[str] = Field(["biased-mf", "svdpp", "autorec"], description="member models (presets allowed)")
    member_options: list[dict] = Field([], description="per-member model options over each member's defaults for the task")
    combiner: Literal["linear", "mlp"] = Field(
        "linear", description="ranking: linear (simplex weights) or mlp (a network over the standardised member scores, item popularity "
        "and user activity, trained on the validation candidates; kept only where it beats linear in 5-fold cross-validation)")
    combiner_hidden: int = Field(32, ge=1, description="combiner mlp: hidden units")


class Blend(Recommender):
    """``r_hat(u, i) = w_0 + sum_k w_k * member_k(u, i)``, weights fitted on validation data."""

    Config = BlendConfig
    name = "blend"
    tasks = ("rating", "ranking")
    summary = "blend of models fitted on validation (rating: biased MF + SVD++ + I-AutoRec, least squares; ranking: EASE + RP3beta + BPR-MF + ALS, an MLP combiner where cross-validation keeps it)"
    default_loss = {"rating": "mse", "ranking": "none"}
    model_defaults = {"ranking": {"task": "ranking", "members": ["ease", "rp3beta", "bpr-mf", "als"], "combiner": "mlp"}}
    pretrain_takes = "two or more trained runs to blend as they are, e.g. runs/ease,runs/als"
    #: the blend's own options; with --pretrain the members' come from the runs
    own_options = ("task", "combiner", "combiner_hidden")

    def __init__(self, config: BlendConfig) -> None:
        super().__init__(config)
        if "blend" in config.members:
            raise ConfigError("a blend cannot contain a blend")
        member_options = config.member_options or [{} for _ in config.members]
        built = []
        if len(member_options) != len(config.members):
            raise ConfigError(f"member_options has {len(member_options)} entries for {len(config.members)} members")
        for name, opts in zip(config.members, member_options):
            defaults = get_model_class(name).defaults(Setting(config.task)).model
            built.append(build_model(name, config.n_users, config.n_items, **{**defaults, **opts}))
        self.members = nn.ModuleList(built)
        self.register_buffer("weights", torch.cat([torch.zeros(1), torch.full((len(built),), 1.0 / max(len(built), 1))]))
        #: items with training data: ranking scores are standardised over these (a member that puts
        #: items without data far below the rest would otherwise squash its own spread)
        self.register_buffer("warm", torch.ones(config.n_items, dtype=torch.bool))
        if config.combiner == "mlp":
            if config.task != "ranking":
                raise ConfigError("combiner mlp is for ranking blends; a rating blend's weights are least squares")
            self.combiner = combiner_network(len(built) + 2, config.combiner_hidden)
            #: standardised log(1 + count) of each item, log(1 + count) of each user: the combiner's context
            self.register_buffer("item_pop", torch.zeros(config.n_items))
            self.register_buffer("user_activity", torch.zeros(config.n_users))
            #: whether the combiner scores (set when it beat the linear blend on validation) or the weights do
            self.register_buffer("use_combiner", torch.tensor(False))

    # -------------------------------------------------------------- choices and training
    @classmethod
    def defaults(cls, setting: Setting) -> Defaults:
        """The task's members; no recency of its own (each member trains with its own defaults)."""
        out = super().defaults(setting)
        out.model["task"] = setting.task
        for key in ("recency", "recency_scale"):
            out.train.pop(key, None)
        return out

    @classmethod
    def memory_estimate(cls, options: dict, n_users: int, n_items: int) -> int:
        return sum(need for _, _, need in cls._member_needs(options, n_users, n_items))

    @classmethod
    def _member_needs(cls, options: dict, n_users: int, n_items: int) -> list[tuple[str, dict, int]]:
        """``(name, options, bytes)`` of each member: what it needs with its defaults for the task."""
        task = options.get("task", "rating")
        members = options.get("members", [])
        member_options = options.get("member_options") or [{} for _ in members]
        out = []
        for name, opts in zip(members, member_options):
            member = get_model_class(name)
            full = {**member.defaults(Setting(task)).model, **opts}
            out.append((name, opts, member.memory_estimate(full, n_users, n_items)))
        return out

    @classmethod
    def within_budget(cls, options: dict, n_users: int, n_items: int, budget: Budget) -> dict:
        """Leave out the members that do not fit (the largest first, each with a logged note);
        refuse when none would be left."""
        needs = cls._member_needs(options, n_users, n_items)
        while needs and not budget.fits(sum(n for _, _, n in needs)):
            drop = max(range(len(needs)), key=lambda k: needs[k][2])
            name, _, need = needs.pop(drop)
            log.warning("blend: leaving out %s (it needs about %s on %s items, over the memory budget of %s, %s; raise it with %s)",
                        name, gib(need), f"{n_items:,}", gib(budget.nbytes), budget.source, OPTION)
        if not needs:
            super().within_budget(options, n_users, n_items, budget)  # refuses, naming the option
        if len(needs) == len(options.get("members", [])):
            return options
        kept = {**options, "members": [n for n, _, _ in needs]}
        if options.get("member_options"):
            kept["member_options"] = [o for _, o, _ in needs]
        return kept

    @classmethod
    def pretrain_options(cls, runs: list, given: dict) -> dict:
        """``blend --pretrain runs/a,runs/b``: the members are the runs' models, as they are."""
        if len(runs) < 2:
            raise ConfigError(f"blend --pretrain needs at least two runs to blend (got {len(runs)})")
        extra = sorted(set(given) - set(cls.own_options))
        if extra:
            raise ConfigError(f"blend --pretrain takes its members from the runs; drop {', '.join(extra)}")
        return {"members": [r.model.name for r in runs], "member_options": [options(r.model) for r in runs]}

    def warm_start(self, runs: list, ctx: TrainingContext, final: bool = False) -> None:
        """Take the runs' weights as they are (their validation models, or with ``final`` their
        final ones, refitted ones included); only the blend's own weights remain to be fitted."""
        for r in runs:
            if r.config.get("task") != self.config.task:
                raise ConfigError(f"run {r.path} was trained for {r.config.get('task')!r}, this blend is for {self.config.task!r}")
        for member, r in zip(self.members, runs):
            member.load_weights((r.model if final else r.validation_model).state_dict())
        self.note_items(ctx.fit_data().train)

    def fit_data(self, data: FitData) -> None:
        """The members' own fits (not when they come from trained runs), and which items have data."""
        for m in [] if data.pretrained else self.members:
            m.fit_data(data)
        self.note_items(data.train)

    def fit(self, ctx: TrainingContext):  # noqa: ANN201 - History
        """Train each member with its own defaults (unless they are trained runs, ``--pretrain``),
        then fit the blend weights on the validation part (:mod:`deeprecs.models.blending`)."""
        return fit_blend(self, ctx)

    def refit(self, ctx: TrainingContext, history, epochs: int = 0) -> "Blend":  # noqa: ANN001, ARG002 - History; no warm refit
        """Members refitted on ``ctx``'s data (train + validation) for their best epochs, or the
        runs' final models; the blend weights (and combiner) kept as validation chose them."""
        if ctx.runs():
            fresh = super().refit(ctx, history)
        else:
            fresh = ctx.build(self.name, options(self), fit=False)  # the members are built and fitted one by one
            for i, (name, member) in enumerate(zip(self.config.members, self.members)):
                best = history.member_best_epochs[i] if i < len(history.member_best_epochs) else -1
                fresh.members[i] = ctx.build(name, options(member))
                if best >= 1:
                    ctx.loop(fresh.members[i], name=name, epochs=best)
            fresh.note_items(ctx.fit_data().train)
        fresh.copy_fitted(self)
        return fresh

    @torch.no_grad()
    def forget_cold(self, cold_users: torch.Tensor, cold_items: torch.Tensor, task: str) -> None:
        """The members' tables forget (the blend puts cold items last itself)."""
        for m in self.members:
            m.zero_cold(cold_users, cold_items)

    def note_items(self, train) -> None:  # noqa: ANN001 - Interactions
        """Remember which items have training data (all of them if none has)."""
        warm = torch.from_numpy(train.item_counts() > 0)
        self.keep("warm", warm if warm.any() else torch.ones_like(warm))
        if self.config.combiner == "mlp":
            self.keep("item_pop", standardize(torch.from_numpy(np.log1p(train.item_counts())).float()[None])[0])
            self.keep("user_activity", torch.from_numpy(np.log1p(train.user_counts())).float())

    # -------------------------------------------------------------- scoring
    def forward(self, batch: Batch) -> torch.Tensor:
        users, items = batch.users, batch.items
        if self.config.task == "ranking":  # standardising needs each user's whole row
            uniq, inverse = torch.unique(users, return_inverse=True)
            return self.score_all(Batch(uniq))[inverse, items]
        preds = torch.stack([m(batch) for m in self.members], -1)
        return self.weights[0] + preds @ self.weights[1:]

    def member_scores(self, users: torch.Tensor) -> list[torch.Tensor]:
        """Each member's ``(B, n_items)`` scores, standardised per user for ranking."""
        rows = [m.score_all(Batch(users)).float() for m in self.members]
        return [standardize(r, self.warm) for r in rows] if self.config.task == "ranking" else rows

    def combiner_features(self, users: torch.Tensor, rows: list[torch.Tensor], items: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, C, k + 2)``: the members' standardised scores ``rows`` (each ``(B, C)``, of
        ``items (B, C)``, or of every item when ``items`` is None), the items' popularity and the
        users' activity, in the order the combiner reads them."""
        pop = self.item_pop[items] if items is not None else self.item_pop.expand(len(users), -1)
        act = self.user_activity[users][:, None].expand_as(pop)
        return torch.stack([*rows, pop, act], -1)

    def score_all(self, batch: Batch, chunk: int = 1 << 20) -> torch.Tensor:
        users = batch.users
        if self.config.combiner == "mlp" and bool(self.use_combiner):
            parts = []
            for start in range(0, len(users), 256):  # (256, n_items, hidden) floats at a time
                part = users[start : start + 256]
                parts.append(self.combiner(self.combiner_features(part, self.member_scores(part))).squeeze(-1))
            out = torch.cat(parts) if parts else torch.zeros(0, self.config.n_items, device=self.device)
            return cold_items_last(out, self.warm)
        out = self.weights[0].expand(len(users), self.config.n_items).clone()
        for w, s in zip(self.weights[1:], self.member_scores(users)):
            if w != 0:
                out += w * s
        return cold_items_last(out, self.warm) if self.config.task == "ranking" else out

    @torch.no_grad()
    def fit_weights(self, users: torch.Tensor, items: torch.Tensor, ratings: torch.Tensor, clamp: tuple[float, float] | None) -> None:
        """Least squares on held-out predictions (a tiny ridge keeps it well posed), in float64 on the host."""
        batch = Batch(users.to(self.device), items.to(self.device))
        preds = torch.stack([m(batch) for m in self.members], -1).cpu().double()
        if clamp:
            preds = preds.clamp(*clamp)
        x = torch.cat([torch.ones(len(users), 1, dtype=torch.double), preds], 1)
        gram = x.T @ x + 1e-6 * len(users) * torch.eye(x.shape[1], dtype=torch.double)
        self.keep("weights", torch.linalg.solve(gram, x.T @ ratings.double()).float())

    def set_ranking_weights(self, weights: torch.Tensor) -> None:
        self.keep("weights", torch.cat([torch.zeros(1), weights.float().cpu()]))

    def copy_fitted(self, other: "Blend") -> None:
        """Take ``other``'s blend weights (and combiner) as they are: a refit keeps what validation chose."""
        self.keep("weights", other.weights.clone())
        if self.config.combiner == "mlp":
            self.combiner.load_state_dict(other.combiner.state_dict())
            self.keep("use_combiner", other.use_combiner.clone())

    def item_embeddings(self) -> torch.Tensor | None:
        return self.members[0].item_embeddings()

    def user_embeddings(self) -> torch.Tensor | None:
        return self.members[0].user_embeddings()
