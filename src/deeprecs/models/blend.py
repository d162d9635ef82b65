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

from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn

from deeprecs.models.base import ModelConfig, Recommender, fit_extra


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
    # ranking members: chosen on the validation parts of ML-100K ua (AUC) and ncf-ml-1m (NDCG@10)
    # (ML-100K ua AUC: 0.936 against 0.926 with mf in bpr-mf's place; with als 0.939; on ncf-ml-1m
    # rp3beta and bpr-mf get weight 0 beside ease and als)
    # combiner mlp: ncf-ml-1m ease + als + gmf runs, 5-fold valid NDCG@10 0.6188 against linear's 0.6176
    # (test HR@10 0.7361 -> 0.7411); where it does not beat linear on validation (ML-100K loo: 0.4464
    # against 0.4467) the linear weights stay
    model_defaults = {"ranking": {"task": "ranking", "members": ["ease", "rp3beta", "bpr-mf", "als"], "combiner": "mlp"}}

    def __init__(self, config: BlendConfig) -> None:
        from deeprecs.models import PRESETS, build_model, get_model_class

        super().__init__(config)
        if "blend" in config.members:
            from deeprecs.errors import ConfigError

            raise ConfigError("a blend cannot contain a blend")
        options = config.member_options or [{} for _ in config.members]
        built = []
        if len(options) != len(config.members):
            from deeprecs.errors import ConfigError

            raise ConfigError(f"member_options has {len(options)} entries for {len(config.members)} members")
        for name, opts in zip(config.members, options):
            defaults = dict(get_model_class(name).model_defaults.get(config.task, {}))
            if name in PRESETS:
                defaults.update(PRESETS[name].model_options)
            built.append(build_model(name, config.n_users, config.n_items, **{**defaults, **opts}))
        self.members = nn.ModuleList(built)
        self.register_buffer("weights", torch.cat([torch.zeros(1), torch.full((len(built),), 1.0 / max(len(built), 1))]))
        #: items with training data: ranking scores are standardised over these (a member that puts
        #: items without data far below the rest would otherwise squash its own spread)
        self.register_buffer("warm", torch.ones(config.n_items, dtype=torch.bool))
        if config.combiner == "mlp":
            if config.task != "ranking":
                from deeprecs.errors import ConfigError

                raise ConfigError("combiner mlp is for ranking blends; a rating blend's weights are least squares")
            self.combiner = combiner_network(len(built) + 2, config.combiner_hidden)
            #: standardised log(1 + count) of each item, log(1 + count) of each user: the combiner's context
            self.register_buffer("item_pop", torch.zeros(config.n_items))
            self.register_buffer("user_activity", torch.zeros(config.n_users))
            #: whether the combiner scores (set when it beat the linear blend on validation) or the weights do
            self.register_buffer("use_combiner", torch.tensor(False))

    uses_dislikes = True

    def fit_extra(self, train, dislikes=None) -> None:  # noqa: ANN001
        for m in self.members:
            fit_extra(m, train, dislikes)
        self.note_items(train)

    def note_items(self, train) -> None:  # noqa: ANN001 - Interactions
        """Remember which items have training data (all of them if none has)."""
        warm = torch.from_numpy(train.item_counts() > 0)
        self.warm = warm if warm.any() else torch.ones_like(warm)
        if self.config.combiner == "mlp":
            self.item_pop = standardize(torch.from_numpy(np.log1p(train.item_counts())).float()[None])[0]
            self.user_activity = torch.from_numpy(np.log1p(train.user_counts())).float()

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        if self.config.task == "ranking":  # standardising needs each user's whole row
            uniq, inverse = torch.unique(users, return_inverse=True)
            return self.score_all(uniq)[inverse, items]
        preds = torch.stack([m(users, items) for m in self.members], -1)
        return self.weights[0] + preds @ self.weights[1:]

    def member_scores(self, users: torch.Tensor) -> list[torch.Tensor]:
        """Each member's ``(B, n_items)`` scores, standardised per user for ranking."""
        rows = [m.score_all(users).float() for m in self.members]
        return [standardize(r, self.warm) for r in rows] if self.config.task == "ranking" else rows

    def combiner_features(self, users: torch.Tensor, rows: list[torch.Tensor], items: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, C, k + 2)``: the members' standardised scores ``rows`` (each ``(B, C)``, of
        ``items (B, C)``, or of every item when ``items`` is None), the items' popularity and the
        users' activity, in the order the combiner reads them."""
        pop = self.item_pop[items] if items is not None else self.item_pop.expand(len(users), -1)
        act = self.user_activity[users][:, None].expand_as(pop)
        return torch.stack([*rows, pop, act], -1)

    def score_all(self, users: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor:
        if self.config.combiner == "mlp" and bool(self.use_combiner):
            parts = []
            for start in range(0, len(users), 256):  # (256, n_items, hidden) floats at a time
                part = users[start : start + 256]
                parts.append(self.combiner(self.combiner_features(part, self.member_scores(part))).squeeze(-1))
            out = torch.cat(parts) if parts else torch.zeros(0, self.config.n_items)
            return cold_items_last(out, self.warm)
        out = self.weights[0].expand(len(users), self.config.n_items).clone()
        for w, s in zip(self.weights[1:], self.member_scores(users)):
            if w != 0:
                out += w * s
        return cold_items_last(out, self.warm) if self.config.task == "ranking" else out

    @torch.no_grad()
    def fit_weights(self, users: torch.Tensor, items: torch.Tensor, ratings: torch.Tensor, clamp: tuple[float, float] | None) -> None:
        """Least squares on held-out predictions (a tiny ridge keeps it well posed)."""
        preds = torch.stack([m(users, items) for m in self.members], -1).double()
        if clamp:
            preds = preds.clamp(*clamp)
        x = torch.cat([torch.ones(len(users), 1, dtype=torch.double), preds], 1)
        gram = x.T @ x + 1e-6 * len(users) * torch.eye(x.shape[1], dtype=torch.double)
        self.weights = torch.linalg.solve(gram, x.T @ ratings.double()).float()

    def set_ranking_weights(self, weights: torch.Tensor) -> None:
        self.weights = torch.cat([torch.zeros(1), weights.float()])

    def copy_fitted(self, other: "Blend") -> None:
        """Take ``other``'s blend weights (and combiner) as they are: a refit keeps what validation chose."""
        self.weights = other.weights.clone()
        if self.config.combiner == "mlp":
            self.combiner.load_state_dict(other.combiner.state_dict())
            self.use_combiner = other.use_combiner.clone()

    def item_embeddings(self) -> torch.Tensor | None:
        return self.members[0].item_embeddings()

    def user_embeddings(self) -> torch.Tensor | None:
        return self.members[0].user_embeddings()


def cold_items_last(scores: torch.Tensor, warm: torch.Tensor) -> torch.Tensor:
    """Ranking scores ``(B, n_items)`` with the items that have no training data (``~warm``) put
    below every item that has some, in place."""
    if not warm.all():
        scores[:, ~warm] = scores[:, warm].min(1, keepdim=True).values - 1
    return scores


def standardize(scores: torch.Tensor, over: torch.Tensor | None = None) -> torch.Tensor:
    """Per-row ``(s - mean) / std`` (a constant row becomes zeros); ``over (n_items,)`` bool: the
    columns the mean and std are taken over (default: all)."""
    part = scores if over is None else scores[:, over]
    mean = part.mean(1, keepdim=True)
    std = part.std(1, keepdim=True)
    return (scores - mean) / torch.where(std > 0, std, torch.ones_like(std))


def combiner_network(n_features: int, hidden: int) -> nn.Module:
    """The combiner: one tanh layer over the per-(user, item) features, a score out."""
    return nn.Sequential(nn.Linear(n_features, hidden), nn.Tanh(), nn.Linear(hidden, 1))


def train_combiner(features: torch.Tensor, hidden: int, seed: int = 0, epochs: int = 20, lr: float = 1e-2,
                   weight_decay: float = 1e-3, batch_size: int = 256) -> nn.Module:
    """A combiner fitted to ``features (R, C, f)``: per row, candidate 0 is the held-out item and
    the others its negatives; the loss is the softmax cross-entropy of candidate 0 (listwise, as the
    protocol ranks). Adam; the defaults were chosen by 5-fold cross-validation on ncf-ml-1m's
    validation part (hidden 8 or 32, weight decay 0 or 1e-3, 5 or 20 epochs). Seeded, and leaves the
    global random state as it was."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = combiner_network(features.shape[-1], hidden)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        target = torch.zeros(batch_size, dtype=torch.long)
        with torch.enable_grad():
            for _ in range(epochs):
                for batch in torch.randperm(len(features)).split(batch_size):
                    loss = nn.functional.cross_entropy(net(features[batch]).squeeze(-1), target[: len(batch)])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
    return net.eval()


def simplex_grid(k: int, step: float = 0.1) -> torch.Tensor:
    """Every weight vector of ``k`` non-negative multiples of ``step`` summing to 1, ``(n, k)``."""
    n = round(1 / step)

    def parts(k: int, total: int):
        if k == 1:
            yield (total,)
            return
        for first in range(total, -1, -1):
            for rest in parts(k - 1, total - first):
                yield (first, *rest)

    return torch.tensor(list(parts(k, n)), dtype=torch.float32) / n
