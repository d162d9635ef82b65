"""A linear blend of rating models (the Netflix-prize lesson: diverse models err differently).

Each member is trained on its own with its own defaults; then the blend weights are fitted
by least squares on the **validation** part: ``r_hat = w_0 + sum_k w_k * r_hat_k``. Nothing is
tuned on test data. Members are full models, saved inside the blend's state dict.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from deeprecs.models.base import ModelConfig, Recommender


class BlendConfig(ModelConfig):
    members: list[str] = Field(["biased-mf", "svdpp", "autorec"], description="member models (rating task)")
    member_options: list[dict] = Field([], description="per-member model options (filled in after training)")


class Blend(Recommender):
    """``r_hat(u, i) = w_0 + sum_k w_k * member_k(u, i)``, weights fitted on validation data."""

    Config = BlendConfig
    name = "blend"
    tasks = ("rating",)
    summary = "least-squares blend of rating models (biased MF, SVD++, I-AutoRec), weights fitted on validation"
    default_loss = {"rating": "mse"}

    def __init__(self, config: BlendConfig) -> None:
        from deeprecs.models import build_model, get_model_class

        super().__init__(config)
        if "blend" in config.members:
            from deeprecs.errors import ConfigError

            raise ConfigError("a blend cannot contain a blend")
        options = config.member_options or [{} for _ in config.members]
        built = []
        for name, opts in zip(config.members, options):
            defaults = dict(get_model_class(name).model_defaults.get("rating", {}))
            built.append(build_model(name, config.n_users, config.n_items, **{**defaults, **opts}))
        self.members = nn.ModuleList(built)
        self.register_buffer("weights", torch.cat([torch.zeros(1), torch.full((len(built),), 1.0 / max(len(built), 1))]))

    def fit_extra(self, train) -> None:  # noqa: ANN001
        for m in self.members:
            m.fit_extra(train)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        preds = torch.stack([m(users, items) for m in self.members], -1)
        return self.weights[0] + preds @ self.weights[1:]

    def score_all(self, users: torch.Tensor, chunk: int = 1 << 20) -> torch.Tensor:
        out = self.weights[0].expand(len(users), self.config.n_items).clone()
        for w, m in zip(self.weights[1:], self.members):
            out += w * m.score_all(users)
        return out

    @torch.no_grad()
    def fit_weights(self, users: torch.Tensor, items: torch.Tensor, ratings: torch.Tensor, clamp: tuple[float, float] | None) -> None:
        """Least squares on held-out predictions (a tiny ridge keeps it well posed)."""
        preds = torch.stack([m(users, items) for m in self.members], -1).double()
        if clamp:
            preds = preds.clamp(*clamp)
        x = torch.cat([torch.ones(len(users), 1, dtype=torch.double), preds], 1)
        gram = x.T @ x + 1e-6 * len(users) * torch.eye(x.shape[1], dtype=torch.double)
        self.weights = torch.linalg.solve(gram, x.T @ ratings.double()).float()

    def item_embeddings(self) -> torch.Tensor | None:
        return self.members[0].item_embeddings()

    def user_embeddings(self) -> torch.Tensor | None:
        return self.members[0].user_embeddings()
