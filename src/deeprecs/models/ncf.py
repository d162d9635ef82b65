"""Neural Collaborative Filtering (He et al., WWW 2017): GMF and NeuMF.

GMF: ``logit = h . (P[u] * Q[i]) + b``. NeuMF fuses a GMF branch and an MLP branch (separate
embeddings) through one output layer: ``logit = h . [P[u] * Q[i]; MLP([P'[u]; Q'[i]])] + b``.
NeuMF can start from trained GMF and MLP weights (``load_pretrained``, the paper's alpha = 0.5).
"""

from __future__ import annotations

import logging

import torch
from pydantic import Field
from torch import nn

from deeprecs.batch import Batch
from deeprecs.errors import ConfigError
from deeprecs.models.als import ALSStartConfig, als_start
from deeprecs.models.base import FitData, Recommender, Setting, TrainingContext
from deeprecs.models.layers import concat_mlp_candidates, concat_mlp_score_all, dot_candidates, flat_layers, init_embedding, mlp
from deeprecs.models.neural import MLP
from deeprecs.search import float_range, int_range

log = logging.getLogger("deeprecs")


class GMFConfig(ALSStartConfig):
    factors: int = Field(64, ge=1, description="embedding size d (the paper's predictive factors)", json_schema_extra=int_range(16, 256, log=True))
    l2: float = Field(0.0, ge=0, description="per-example L2 on the embeddings a batch touches")
    init_std: float = Field(0.01, gt=0, description="std of the normal initialisation")
    init_gmf: float = Field(5.0, gt=0, description="init als: the output weights make the logit init_gmf times the ALS score", json_schema_extra=float_range(1.0, 10.0, log=True))
    calibrate: bool = Field(True, description="init als: fit the output scale and bias to the log loss of the train pairs "
                            "against 4 uniform items each, so that training starts calibrated (else scale init_gmf, bias 0)")


class GMF(Recommender):
    """Generalised matrix factorisation: a learned weighting of the element-wise product."""

    Config = GMFConfig
    name = "gmf"
    tasks = ("ranking",)
    summary = "NCF's generalised MF: weighted element-wise product of embeddings, log loss"
    default_loss = {"ranking": "bce"}
    model_defaults = {"ranking": {"factors": 128, "l2": 0.0, "init": "als", "init_norm": 2.0, "init_gmf": 5.0, "calibrate": True}}
    train_defaults = {"ranking": {"optimizer": "sparse-adam", "batch_size": 2048, "min_steps_per_epoch": 50, "lr": 5e-4, "epochs": 20, "patience": 3, "n_negatives": 4}}

    def __init__(self, config: GMFConfig) -> None:
        super().__init__(config)
        self.user_emb = init_embedding(config.n_users, config.factors, config.init_std)
        self.item_emb = init_embedding(config.n_items, config.factors, config.init_std)
        self.out = nn.Linear(config.factors, 1)
        nn.init.ones_(self.out.weight)  # start as a plain dot product
        nn.init.zeros_(self.out.bias)

    user_tables = ("user_emb",)
    item_tables = ("item_emb",)

    @torch.no_grad()
    def fit_data(self, data: FitData) -> None:
        """``init als``: the embeddings start from ALS scaled to norm ``init_norm`` (learning from
        the known dislikes too), the output weights making the logit ``init_gmf`` times the ALS
        score; with ``calibrate`` (the default), scale and bias are instead those that minimise
        the log loss at the start (:func:`calibrate`)."""
        c = self.config
        if c.init == "als":
            t = als_start(self, self.user_emb, self.item_emb, data, c.init_norm)
            if not c.calibrate:
                self.out.weight.fill_(c.init_gmf / t**2)
                return
            calibrate_output(self, self.out.weight, self.out.bias, data.train)

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.out(self.user_emb(batch.users) * self.item_emb(batch.items)).squeeze(-1)

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        u = self.user_emb(batch.users) * self.out.weight  # (B, d)
        return dot_candidates(u, self.item_emb(batch.items)) + self.out.bias

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
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout after each hidden layer of the MLP branch")
    l2: float = Field(0.0, ge=0, description="per-example L2 on the embeddings a batch touches")
    init_std: float = Field(0.01, gt=0, description="std of the normal initialisation")
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
    #: the MLP branch's sizes equal mlp's ranking defaults, so ``--pretrain runs/gmf,runs/mlp`` works
    #: with all defaults (the GMF branch then takes the gmf run's size)
    model_defaults = {"ranking": {"factors": 128, "mlp_factors": 32, "layers": [64, 32, 16], "l2": 0.0,
                                  "init": "als", "init_norm": 15.0, "init_gmf": 5.0, "gmf_norm": 2.0, "calibrate": True}}
    #: from scratch; ``ranking-pretrained``: fine-tuning trained GMF and MLP runs, a small step
    #: (the paper switches to plain SGD) so that the fused model starts where its parts ended; the
    #: start itself competes on validation as epoch 0
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

    user_tables = ("gmf_user", "mlp_user")
    item_tables = ("gmf_item", "mlp_item")
    pretrain_takes = "a gmf (or other dot-product: mf, als) run and an mlp run, e.g. runs/gmf,runs/mlp"
    #: the fusion weights tried on the validation part when pre-training (the paper fixes 0.5), ties
    #: to the value closest to 0.5
    alpha_grid = (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9)

    def forward(self, batch: Batch) -> torch.Tensor:
        users, items = batch.users, batch.items
        g = self.gmf_user(users) * self.gmf_item(items)
        m = self.tower(torch.cat([self.mlp_user(users), self.mlp_item(items)], -1))
        return self.out(torch.cat([g, m], -1)).squeeze(-1)

    @torch.no_grad()
    def fit_data(self, data: FitData) -> None:
        """``init als``: the MLP branch's embeddings start from ALS (as the MLP's do); with
        ``init_gmf`` the GMF branch too (scaled to ``gmf_norm``), its output weights making its
        logit ``init_gmf`` times the ALS score; with ``calibrate`` as well, the fused model starts
        as GMF's calibrated start: the GMF branch's output scale and the bias fitted to the log loss
        (:func:`calibrate`) and the MLP branch's output weights 0."""
        c = self.config
        if c.init != "als":
            return
        als_start(self, self.mlp_user, self.mlp_item, data, c.init_norm)
        if c.init_gmf > 0:
            t = als_start(self, self.gmf_user, self.gmf_item, data, c.gmf_norm or c.init_norm)
            if not c.calibrate:
                self.out.weight[0, : c.factors] = c.init_gmf / t**2
                return
            self.out.weight[0, c.factors :] = 0.0  # the MLP branch silent: the logit is the GMF branch's
            calibrate_output(self, self.out.weight[0, : c.factors], self.out.bias, data.train)

    # -------------------------------------------------------------- pre-training
    @classmethod
    def pretrain_options(cls, runs: list, given: dict) -> dict:
        """The GMF branch takes the GMF-branch run's width; the embeddings come from the runs (no
        ALS start to fit and overwrite)."""
        gmf_run, _ = neumf_parts(runs)
        return {"factors": gmf_branch_size(gmf_run.model)[0], "init": "random"}

    @classmethod
    def validation_grid(cls, setting: Setting) -> dict[str, tuple]:
        """Pre-trained: the fusion weight alpha (the paper's 0.5 suits a GMF and an MLP of equal
        strength; a stronger branch, such as ALS vectors, deserves more weight)."""
        return {"alpha": cls.alpha_grid} if setting.pretrain else {}

    @torch.no_grad()
    def warm_start(self, runs: list, ctx: TrainingContext, final: bool = False) -> None:
        """Load a GMF-branch run (gmf, or a dot-product model such as als, its scores calibrated to
        log-odds on NeuMF's own objective: :func:`calibrate`) and an MLP run, fused with ``alpha``."""
        gmf_run, mlp_run = neumf_parts(runs)
        gmf_model, mlp_model = (gmf_run.model, mlp_run.model) if final else (gmf_run.validation_model, mlp_run.validation_model)
        if mlp_run.config.get("task", "ranking") != "ranking":
            raise ConfigError(f"the mlp run {mlp_run.path} was trained for {mlp_run.config.get('task')!r}; pre-train it with --task ranking")
        self.check_pretrained(gmf_model, mlp_model)
        calibration = (1.0, 0.0)
        if not isinstance(gmf_model, GMF):  # another model's scores -> log-odds on NeuMF's own objective
            calibration = calibrate(gmf_model, *calibration_pairs(ctx.fit_data().train, seed=ctx.seed))
            log.info("neumf: %s scores -> log-odds: a=%.4g, b=%.4g", gmf_model.name, *calibration)
        self.load_pretrained(gmf_model, mlp_model, calibration)

    def score_candidates(self, batch: Batch) -> torch.Tensor:
        """The output layer splits over the branches, ``h_g . g + h_m . m + b``: the GMF branch is
        one product per candidate with the user looked up once, the MLP branch splits its first layer per side."""
        users, items = batch.users, batch.items
        k = self.config.factors
        h_g, h_m = self.out.weight[0, :k], self.out.weight[0, k:]
        gmf = dot_candidates(self.gmf_user(users) * h_g, self.gmf_item(items))
        hidden = concat_mlp_candidates(self.mlp_user(users), self.mlp_item(items), flat_layers(self.tower))  # (B, m, h)
        return gmf + hidden @ h_m + self.out.bias

    def score_all(self, batch: Batch, chunk: int = 0) -> torch.Tensor:
        """The output layer splits over the branches: ``h_g . g + h_m . m + b``; the GMF branch
        is one matrix product, the MLP branch splits its first layer per side."""
        users = batch.users
        k = self.config.factors
        h_g, h_m = self.out.weight[0, :k], self.out.weight[:, k:]
        gmf = (self.gmf_user(users) * h_g) @ self.gmf_item.weight.T
        head = nn.Linear(h_m.shape[1], 1, device=h_m.device)
        head.weight.data, head.bias.data = h_m, self.out.bias
        layers = flat_layers(self.tower, head)
        return gmf + concat_mlp_score_all(self.mlp_user(users), self.mlp_item.weight, layers)

    def regularization(self, batch: Batch) -> torch.Tensor:
        users, items = batch.users, batch.items
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
            h = torch.full((1, user.shape[1]), float(scale), device=user.device)
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


def neumf_parts(runs: list) -> tuple:
    """The two ``--pretrain`` runs of a NeuMF: ``(GMF-branch run, MLP run)``. The GMF branch comes
    from a gmf run or another dot-product model (mf, biased-mf, als)."""
    if len(runs) != 2:
        raise ConfigError(f"--pretrain needs exactly two runs, a gmf (or mf, als) and an mlp one (e.g. runs/gmf,runs/mlp); got {len(runs)}")
    mlp_run = next((r for r in runs if isinstance(r.model, MLP)), None)
    gmf = next((r for r in runs if r is not mlp_run and r.model.retrieval_vectors() is not None), None)
    if gmf is None or mlp_run is None:
        kinds = ", ".join(f"{r.path}: {r.model.name}" for r in runs)
        raise ConfigError(f"--pretrain needs one gmf (or mf, als) run and one mlp run, e.g. --pretrain runs/gmf,runs/mlp (got {kinds})")
    return gmf, mlp_run


def gmf_branch_size(model: Recommender) -> tuple[int, str]:
    """The GMF branch size a pre-trained run gives NeuMF, and how to name it in an error."""
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
    return users, items, NegativeSampler.of(train, "uniform-excl").sample(users, n_negatives, generator)


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
    layer there (docs/model-defaults.md, "GMF")."""
    dev = model.device

    def scores(u: torch.Tensor, i: torch.Tensor, chunk: int = 1 << 16) -> torch.Tensor:  # in chunks: (B, d) lookups add up
        return torch.cat([model(Batch(u[k : k + chunk].to(dev), i[k : k + chunk].to(dev))).cpu() for k in range(0, len(u), chunk)]).double()

    pos = scores(users, items)  # the two-parameter fit in float64 on the host
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
