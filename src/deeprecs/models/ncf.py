"""Neural Collaborative Filtering (He et al., WWW 2017): GMF and NeuMF.

GMF: ``logit = h . (P[u] * Q[i]) + b``. NeuMF fuses a GMF branch and an MLP branch (separate
embeddings) through one output layer: ``logit = h . [P[u] * Q[i]; MLP([P'[u]; Q'[i]])] + b``.
NeuMF can start from trained GMF and MLP weights (``load_pretrained``, the paper's alpha = 0.5).
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from deeprecs.models.base import (ALSStartConfig, ModelConfig, Recommender, concat_mlp_score_all, concat_mlp_candidates, dot_candidates,
                                  flat_layers, init_embedding, mlp)
from deeprecs.models.neural import MLP


class GMFConfig(ALSStartConfig):
    factors: int = Field(64, ge=1)
    l2: float = Field(0.0, ge=0)
    init_std: float = Field(0.01, gt=0)
    init_gmf: float = Field(5.0, gt=0, description="init als: the output weights make the logit init_gmf times the ALS score")
    calibrate: bool = Field(True, description="init als: fit the output scale and bias to the log loss of the train pairs "
                            "against 4 uniform items each, so that training starts calibrated (else scale init_gmf, bias 0)")


class GMF(Recommender):
    """Generalised matrix factorisation: a learned weighting of the element-wise product."""

    Config = GMFConfig
    name = "gmf"
    tasks = ("ranking",)
    summary = "NCF's generalised MF: weighted element-wise product of embeddings, log loss"
    default_loss = {"ranking": "bce"}
    #: chosen on the validation hold-out of ncf-ml-1m (benchmarks/ncf.py). From ALS (norm 2: the
    #: output weights start near 1, so Adam's steps on them stay small relative to them; at norm 15
    #: they start near 0.02 and the first epoch scrambles them): valid NDCG@10 0.563 -> 0.594, test
    #: HR@10 0.693 in 44 s -> 0.716 in 16 s; ML-100K loo valid 0.433 -> 0.443. The per-example L2
    #: would pull the ALS vectors back (valid 0.555 at l2 1e-2). The calibrated start (the output
    #: bias fitted, ``calibrate``) lets training improve on ALS for many epochs where Adam from bias 0
    #: peaked at epoch 1; with it 128 factors at lr 5e-4 (ncf-ml-1m valid NDCG@10 / test HR@10): 64 at
    #: 1e-3 uncalibrated 0.594 / 0.718; 128 uncalibrated 0.599 / 0.722; 128 calibrated, lr 1e-3 0.606 /
    #: 0.731, 5e-4 0.609 / 0.733 (131 s; 0.607 / 0.733 with the negatives drawn as now), 3e-4 0.610 /
    #: 0.733 (160 s); 64 calibrated 3e-4 0.602 / 0.728; 192 calibrated 5e-4 0.607 / 0.734 (172 s).
    model_defaults = {"ranking": {"factors": 128, "l2": 0.0, "init": "als", "init_norm": 2.0, "init_gmf": 5.0, "calibrate": True}}
    # sparse-adam at 2048 rows: the same HR@10 as dense Adam at 8192 in about a third of the time (ncf-ml-1m)
    train_defaults = {"ranking": {"optimizer": "sparse-adam", "batch_size": 2048, "min_steps_per_epoch": 50, "lr": 5e-4, "epochs": 20, "patience": 3, "n_negatives": 4}}

    def __init__(self, config: GMFConfig) -> None:
        super().__init__(config)
        self.user_emb = init_embedding(config.n_users, config.factors, config.init_std)
        self.item_emb = init_embedding(config.n_items, config.factors, config.init_std)
        self.out = nn.Linear(config.factors, 1)
        nn.init.ones_(self.out.weight)  # start as a plain dot product
        nn.init.zeros_(self.out.bias)

    #: an ALS start learns from the known dislikes (``init als``)
    uses_dislikes = True

    @torch.no_grad()
    def fit_extra(self, train, progress: bool | None = None, dislikes=None) -> None:  # noqa: ANN001 - Interactions
        """``init als``: the embeddings start from ALS scaled to norm ``init_norm``, the output
        weights making the logit ``init_gmf`` times the ALS score; with ``calibrate`` (the
        default), scale and bias are instead those that minimise the log loss at the start
        (:func:`calibrate`)."""
        from deeprecs.models.als import copy_scaled_als

        c = self.config
        if c.init == "als":
            t = copy_scaled_als(self.user_emb, self.item_emb, train, c.init_norm, c.als_options(), dislikes)
            if not c.calibrate:
                self.out.weight.fill_(c.init_gmf / t**2)
                return
            calibrate_output(self, self.out.weight, self.out.bias, train)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.out(self.user_emb(users) * self.item_emb(items)).squeeze(-1)

    def score_candidates(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        u = self.user_emb(users) * self.out.weight  # (B, d)
        return dot_candidates(u, self.item_emb(items)) + self.out.bias

    def retrieval_vectors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb.weight * self.out.weight, self.item_emb.weight

    def score_constant(self) -> torch.Tensor:
        return self.out.bias.squeeze()

    def item_embeddings(self) -> torch.Tensor:
        return self.item_emb.weight

    def user_embeddings(self) -> torch.Tensor:
        return self.user_emb.weight


class NeuMFConfig(ALSStartConfig):
    factors: int = Field(64, ge=1, description="GMF branch embedding size (the paper's predictive factors)")
    mlp_factors: int = Field(32, ge=1, description="MLP branch embedding size per side (= mlp's ranking user/item factors)")
    layers: list[int] = Field([64, 32, 16], min_length=1, description="MLP branch hidden layers (= mlp's ranking layers)")
    dropout: float = Field(0.0, ge=0, lt=1)
    l2: float = Field(0.0, ge=0)
    init_std: float = Field(0.01, gt=0)
    alpha: float = Field(0.5, ge=0, le=1, description="GMF weight when fusing pre-trained output layers")
    init_gmf: float = Field(0.0, ge=0, description="init als: also start the GMF branch from ALS (its own fit, factors wide), "
                            "its output weights set so that its logit is init_gmf times the ALS score (0: GMF starts at random)")
    gmf_norm: float = Field(0.0, ge=0, description="init als with init_gmf: the GMF branch's ALS vectors are scaled to this "
                            "mean user norm (0: init_norm, as the MLP branch's)")
    calibrate: bool = Field(False, description="init als with init_gmf: start as the calibrated GMF start (its output scale "
                            "and bias fitted to the log loss, as gmf's calibrate) with the MLP branch's output weights at 0")


class NeuMF(Recommender):
    """NeuMF: GMF and MLP branches with separate embeddings, fused by one output layer."""

    Config = NeuMFConfig
    name = "neumf"
    tasks = ("ranking",)
    summary = "NCF's NeuMF: GMF + MLP branches fused; --pretrain GMF,MLP runs"
    default_loss = {"ranking": "bce"}
    #: chosen on the validation hold-outs of ncf-ml-1m and ML-100K loo (benchmarks/ncf.py); the MLP
    #: branch's sizes equal mlp's ranking defaults, so ``--pretrain runs/gmf,runs/mlp`` works with all
    #: defaults (the GMF branch then takes the gmf run's size). From scratch, both branches start from
    #: ALS (ncf-ml-1m: test HR@10 0.687 in 325 s from a random start, 0.721 in 38 s from ALS; valid
    #: NDCG@10 0.563 -> 0.601), and the fused model starts as GMF's calibrated start (``calibrate``:
    #: the GMF branch's output scale and bias fitted, norm 2 as gmf's, the MLP branch's output weights
    #: at 0, so the tower is learnt on top of a calibrated GMF), trained as GMF is (sparse Adam, 2048,
    #: lr 5e-4). Against the uncalibrated start (64 factors, Adam lr 5e-3 at 8192): ML-100K loo, seeds
    #: 0-5, mean test HR@10 (valid NDCG@10) 0.6520 (0.4501) -> 0.6605 (0.4535); ncf-ml-1m 0.724 / 0.440
    #: -> 0.729 / 0.450 (valid 0.601 -> 0.608). Tried: 64 factors (ML-100K 0.6615 (0.4538), ncf-ml-1m
    #: valid 0.602), GMF norm 15 (0.6636 (0.4546), ncf-ml-1m valid 0.604), lr 3e-4 and 1e-3 at 64
    #: factors (ML-100K valid 0.4526, 0.4516), lr 3e-4 at 128 on ncf-ml-1m (valid 0.609, test 0.725,
    #: twice the epochs), the calibrated start trained with the old Adam lr 5e-3 at 8192 (ML-100K
    #: valid 0.4397). The per-example L2 would pull the scaled-up vectors back (ML-100K loo valid
    #: NDCG@10 0.413 at l2 1e-2, 0.441 at 0); a pre-trained run's fine-tuning does as well without it
    #: (test HR@10 0.721-0.726 either way)
    model_defaults = {"ranking": {"factors": 128, "mlp_factors": 32, "layers": [64, 32, 16], "l2": 0.0,
                                  "init": "als", "init_norm": 15.0, "init_gmf": 5.0, "gmf_norm": 2.0, "calibrate": True}}
    #: from scratch; ``ranking-pretrained``: fine-tuning trained GMF and MLP runs, a small step
    #: (the paper switches to plain SGD) so that the fused model starts where its parts ended; the
    #: start itself competes on validation as epoch 0 (``fit(validate_start=True)``): kept on
    #: ncf-ml-1m from the default GMF (128 factors, calibrated start) + MLP (alpha 0.7: valid NDCG@10
    #: 0.6104 at the start vs 0.6097 fine-tuned; test HR@10 / NDCG@10 0.731 / 0.451, the paper's 0.730 / 0.447)
    train_defaults = {"ranking": {"optimizer": "sparse-adam", "batch_size": 2048, "min_steps_per_epoch": 50, "lr": 5e-4, "epochs": 20,
                                  "patience": 3, "n_negatives": 4},
                      "ranking-pretrained": {"batch_size": 8192, "min_steps_per_epoch": 50, "lr": 2e-4, "epochs": 10, "patience": 2, "n_negatives": 4}}

    def __init__(self, config: NeuMFConfig) -> None:
        super().__init__(config)
        c = config
        self.gmf_user = init_embedding(c.n_users, c.factors, c.init_std)
        self.gmf_item = init_embedding(c.n_items, c.factors, c.init_std)
        self.mlp_user = init_embedding(c.n_users, c.mlp_factors, c.init_std)
        self.mlp_item = init_embedding(c.n_items, c.mlp_factors, c.init_std)
        self.tower = mlp([2 * c.mlp_factors, *c.layers], c.dropout)
        self.out = nn.Linear(c.factors + c.layers[-1], 1)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        g = self.gmf_user(users) * self.gmf_item(items)
        m = self.tower(torch.cat([self.mlp_user(users), self.mlp_item(items)], -1))
        return self.out(torch.cat([g, m], -1)).squeeze(-1)

    #: an ALS start learns from the known dislikes (``init als``)
    uses_dislikes = True

    @torch.no_grad()
    def fit_extra(self, train, progress: bool | None = None, dislikes=None) -> None:  # noqa: ANN001 - Interactions
        """``init als``: the MLP branch's embeddings start from ALS (as the MLP's do); with
        ``init_gmf`` the GMF branch too (scaled to ``gmf_norm``), its output weights making its
        logit ``init_gmf`` times the ALS score; with ``calibrate`` as well, the fused model starts
        as GMF's calibrated start: the GMF branch's output scale and the bias fitted to the log loss
        (:func:`calibrate`) and the MLP branch's output weights 0."""
        from deeprecs.models.als import copy_scaled_als

        c = self.config
        if c.init != "als":
            return
        copy_scaled_als(self.mlp_user, self.mlp_item, train, c.init_norm, c.als_options(), dislikes)
        if c.init_gmf > 0:
            t = copy_scaled_als(self.gmf_user, self.gmf_item, train, c.gmf_norm or c.init_norm, c.als_options(), dislikes)
            if not c.calibrate:
                self.out.weight[0, : c.factors] = c.init_gmf / t**2
                return
            self.out.weight[0, c.factors :] = 0.0  # the MLP branch silent: the logit is the GMF branch's
            calibrate_output(self, self.out.weight[0, : c.factors], self.out.bias, train)

    def score_candidates(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The output layer splits over the branches, ``h_g . g + h_m . m + b``: the GMF branch is
        one product per candidate with the user looked up once, the MLP branch splits its first layer per side."""
        k = self.config.factors
        h_g, h_m = self.out.weight[0, :k], self.out.weight[0, k:]
        gmf = dot_candidates(self.gmf_user(users) * h_g, self.gmf_item(items))
        hidden = concat_mlp_candidates(self.mlp_user(users), self.mlp_item(items), flat_layers(self.tower))  # (B, m, h)
        return gmf + hidden @ h_m + self.out.bias

    def score_all(self, users: torch.Tensor, chunk: int = 0) -> torch.Tensor:
        """The output layer splits over the branches: ``h_g . g + h_m . m + b``; the GMF branch
        is one matrix product, the MLP branch splits its first layer per side."""
        k = self.config.factors
        h_g, h_m = self.out.weight[0, :k], self.out.weight[:, k:]
        gmf = (self.gmf_user(users) * h_g) @ self.gmf_item.weight.T
        head = nn.Linear(h_m.shape[1], 1)
        head.weight.data, head.bias.data = h_m, self.out.bias
        layers = flat_layers(self.tower, head)
        return gmf + concat_mlp_score_all(self.mlp_user(users), self.mlp_item.weight, layers)

    def regularization(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        reg = sum(e(x).pow(2).sum(-1) for e, x in ((self.gmf_user, users), (self.gmf_item, items), (self.mlp_user, users), (self.mlp_item, items)))
        return self.config.l2 * reg.mean()

    def item_embeddings(self) -> torch.Tensor:
        return torch.cat([self.gmf_item.weight, self.mlp_item.weight], 1)

    def user_embeddings(self) -> torch.Tensor:
        return torch.cat([self.gmf_user.weight, self.mlp_user.weight], 1)

    def check_pretrained(self, gmf: Recommender, mlp_model: MLP) -> None:
        """Raise a ConfigError naming the first option whose size differs from the two runs'.
        ``gmf``: a GMF run, or any dot-product model (MF, biased MF, ALS, ...) whose user and item
        vectors become the GMF branch (see :meth:`load_pretrained`)."""
        from deeprecs.errors import ConfigError

        c, m = self.config, mlp_model.config
        k, what = gmf_branch_size(gmf)
        wanted = [("--factors", c.factors, what, k),
                  ("--mlp-factors", c.mlp_factors, "the mlp run's user-factors", m.user_factors),
                  ("--mlp-factors", c.mlp_factors, "the mlp run's item-factors", m.item_factors),
                  ("--layers", list(c.layers), "the mlp run's layers", list(m.layers))]
        for option, mine, what, theirs in wanted:
            if mine != theirs:
                raise ConfigError(f"neumf {option} is {mine} but {what} is {theirs}: train neumf with {option} {theirs}"
                                  " or retrain that run with matching sizes")
        if getattr(m, "biases", False):
            raise ConfigError("the mlp run has user/item biases, which neumf has no place for: pre-train it with --biases false")
        for part, n in (("users", c.n_users), ("items", c.n_items)):
            for name, run_n in ((gmf.name, getattr(gmf.config, f"n_{part}")), ("mlp", getattr(m, f"n_{part}"))):
                if run_n != n:
                    raise ConfigError(f"the {name} run has {run_n} {part}, this data {n}: pre-train on the same data and split")

    @torch.no_grad()
    def load_pretrained(self, gmf: Recommender, mlp_model: MLP, calibration: tuple[float, float] = (1.0, 0.0)) -> None:
        """Copy trained GMF and MLP weights in; the output layer becomes
        ``[alpha * h_gmf, (1 - alpha) * h_mlp]`` with bias ``alpha * b_gmf + (1 - alpha) * b_mlp``,
        so the fused logit is ``alpha * logit_gmf + (1 - alpha) * logit_mlp``.

        ``gmf`` may also be another dot-product model (``score = U[u] . V[i] + c``: MF, biased MF
        with its biases as two extra dimensions, ALS): a GMF with ``h = a * 1`` and ``b = a * c + b'``,
        where ``calibration = (a, b')`` turns its scores into log-odds (see :func:`calibrate`)."""
        self.check_pretrained(gmf, mlp_model)
        a = self.config.alpha
        if isinstance(gmf, GMF):
            user, item, h, b = gmf.user_emb.weight, gmf.item_emb.weight, gmf.out.weight, gmf.out.bias
        else:
            user, item = gmf.retrieval_vectors()
            scale, shift = calibration
            h = torch.full((1, user.shape[1]), float(scale))
            b = (scale * gmf.score_constant() + shift).reshape(1)
        self.gmf_user.weight.copy_(user)
        self.gmf_item.weight.copy_(item)
        self.mlp_user.weight.copy_(mlp_model.user_emb.weight)
        self.mlp_item.weight.copy_(mlp_model.item_emb.weight)
        linear = [k for k, module in enumerate(mlp_model.tower) if isinstance(module, nn.Linear)]
        mine = [k for k, module in enumerate(self.tower) if isinstance(module, nn.Linear)]
        for k, j in zip(mine, linear):  # the MLP run may have had dropout layers in between
            self.tower[k].load_state_dict(mlp_model.tower[j].state_dict())
        self.out.weight.copy_(torch.cat([a * h, (1 - a) * mlp_model.out.weight], 1))
        self.out.bias.copy_(a * b + (1 - a) * mlp_model.out.bias)


def gmf_branch_size(model: Recommender) -> tuple[int, str]:
    """The GMF branch size a pre-trained run gives NeuMF, and how to name it in an error."""
    from deeprecs.errors import ConfigError

    if isinstance(model, GMF):
        return model.config.factors, "the gmf run's factors"
    vectors = model.retrieval_vectors()
    if vectors is None or isinstance(model, (MLP, NeuMF)):
        raise ConfigError(f"a {model.name} run cannot start neumf's GMF branch: use a gmf run or a dot-product model (mf, biased-mf, als)")
    return int(vectors[0].shape[1]), f"the {model.name} run's vector size"


def calibration_pairs(train, n_negatives: int = 4, max_pairs: int = 1 << 18, seed: int = 0,  # noqa: ANN001 - Interactions
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(users, items, negatives)`` for :func:`calibrate`: at most ``max_pairs`` train pairs
    (drawn, seeded) and ``n_negatives`` items each that the user has not interacted with."""
    from deeprecs.sampling import NegativeSampler

    generator = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(train), generator=generator)[:max_pairs]
    users, items = torch.from_numpy(train.users)[pick], torch.from_numpy(train.items)[pick]
    return users, items, NegativeSampler(train, "uniform-excl").sample(users, n_negatives, generator)


@torch.no_grad()
def calibrate_output(model: Recommender, weight: torch.Tensor, bias: torch.Tensor, train) -> None:  # noqa: ANN001 - Interactions
    """Set a dot-product output layer (``weight``: the weights, or a view of those that act on the
    element-wise product; ``bias``) to the scale and bias that fit the log loss of ``train``'s
    pairs (:func:`calibrate`, on :func:`calibration_pairs`), found on the plain dot product
    (weights 1, bias 0)."""
    weight.fill_(1.0)
    bias.zero_()
    a, b = calibrate(model, *calibration_pairs(train))
    weight.fill_(a)
    bias.fill_(b)


@torch.no_grad()
def calibrate(model: Recommender, users: torch.Tensor, items: torch.Tensor, negatives: torch.Tensor, steps: int = 50) -> tuple[float, float]:
    """``(a, b)`` such that ``sigmoid(a * score + b)`` is the log-loss fit of positives
    ``(users, items)`` (label 1) against their sampled ``negatives (B, n)`` (label 0): NeuMF's
    own training objective, so that another model's scores start as GMF log-odds. Newton steps on
    the two parameters (a convex problem), in float64.

    GMF's own ALS start (``calibrate``) uses it too: an ALS start ranks well but its dot
    products are not logits; with bias 0 every pair starts near p = 0.5 against a 1:4 mix, and
    the first epochs of Adam spend themselves (and scramble the ALS vectors) moving the output
    layer there. ncf-ml-1m, GMF 128 factors from ALS: the fitted bias is -3.99 (the scale 0.967,
    about the 0.964 ``init_gmf`` gives); valid NDCG@10 0.599 -> 0.607, test HR@10 0.722 -> 0.733."""
    def scores(u: torch.Tensor, i: torch.Tensor, chunk: int = 1 << 16) -> torch.Tensor:  # in chunks: (B, d) lookups add up
        return torch.cat([model(u[k : k + chunk], i[k : k + chunk]) for k in range(0, len(u), chunk)]).double()

    pos = scores(users, items)
    neg = scores(users.repeat_interleave(negatives.shape[1]), negatives.reshape(-1))
    s = torch.cat([pos, neg])
    y = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
    x = torch.stack([s, torch.ones_like(s)], 1)
    w = torch.zeros(2, dtype=torch.double)
    for _ in range(steps):
        p = torch.sigmoid(x @ w)
        grad = x.T @ (p - y)
        hess = (x * (p * (1 - p)).unsqueeze(1)).T @ x + 1e-9 * torch.eye(2, dtype=torch.double)
        delta = torch.linalg.solve(hess, grad)
        w -= delta
        if delta.abs().max() < 1e-10:
            break
    return float(w[0]), float(w[1])
