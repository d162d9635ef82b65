"""NCF models: NeuMF's pre-training fuses GMF and MLP exactly; a model learns planted structure
under leave-one-out; ``--pretrain`` refuses runs that do not fit, with a message that says why."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deeprecs.batch import Batch
from deeprecs.models.base import FitData
from deeprecs.data.interactions import Interactions
from deeprecs.data.splits import make_split
from deeprecs.errors import ConfigError
from deeprecs.evaluation.protocols import evaluate_sampled
from deeprecs.models.ncf import GMF, NeuMF
from deeprecs.models.neural import MLP
from deeprecs.models.base import Setting
from deeprecs.pipeline import sampled_candidates
from deeprecs.pipeline.scoring import score_fn
from deeprecs.training import RankingTask, TrainConfig, fit


def _pretrained_pair(n_users: int = 7, n_items: int = 9) -> tuple[GMF, MLP]:
    torch.manual_seed(0)
    gmf = GMF(GMF.Config(n_users=n_users, n_items=n_items, factors=4))
    mlp = MLP(MLP.Config(n_users=n_users, n_items=n_items, user_factors=3, item_factors=3, layers=[6, 3], dropout=0.3))
    with torch.no_grad():  # away from the initial values, so that every copied tensor matters
        for p in [*gmf.parameters(), *mlp.parameters()]:
            p.normal_()
    return gmf.eval(), mlp.eval()


@pytest.mark.parametrize("alpha", [0.5, 0.2])
def test_neumf_pretrained_logit_is_alpha_weighted_sum(alpha):
    gmf, mlp = _pretrained_pair()
    neumf = NeuMF(NeuMF.Config(n_users=7, n_items=9, factors=4, mlp_factors=3, layers=[6, 3], alpha=alpha))
    neumf.load_pretrained(gmf, mlp)
    neumf.eval()
    users, items = torch.meshgrid(torch.arange(7), torch.arange(9), indexing="ij")
    users, items = users.flatten(), items.flatten()
    with torch.no_grad():
        fused = neumf(Batch(users, items))
        expected = alpha * gmf(Batch(users, items)) + (1 - alpha) * mlp(Batch(users, items))
        torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(neumf.score_all(Batch(torch.arange(7))), expected.view(7, 9), rtol=1e-5, atol=1e-5)
    assert torch.equal(neumf.gmf_item.weight, gmf.item_emb.weight)
    assert torch.equal(neumf.mlp_user.weight, mlp.user_emb.weight)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"factors": 5}, "--factors is 5 but the gmf run's factors is 4"),
     ({"mlp_factors": 4}, "--mlp-factors is 4"),
     ({"layers": [6, 2]}, "--layers is [6, 2] but the mlp run's layers is [6, 3]")],
)
def test_neumf_pretrained_size_mismatch_is_a_clear_error(options, message):
    gmf, mlp = _pretrained_pair()
    sizes = {"factors": 4, "mlp_factors": 3, "layers": [6, 3], **options}
    neumf = NeuMF(NeuMF.Config(n_users=7, n_items=9, **sizes))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        neumf.load_pretrained(gmf, mlp)


def test_neumf_pretrained_other_data_is_a_clear_error():
    gmf, mlp = _pretrained_pair(n_items=9)
    neumf = NeuMF(NeuMF.Config(n_users=7, n_items=10, factors=4, mlp_factors=3, layers=[6, 3]))
    with pytest.raises(ConfigError, match="has 9 items, this data 10"):
        neumf.load_pretrained(gmf, mlp)


def test_default_sizes_let_neumf_pretrain_from_default_gmf_and_mlp():
    """The MLP branch's defaults are mlp's; the GMF branch takes the gmf run's size (GMF's
    default 128 factors, as NeuMF's from scratch; ``NeuMF.pretrain_options``)."""
    mlp = MLP.Config(n_users=3, n_items=4, **MLP.model_defaults.get("ranking", {}))
    gmf = GMF.Config(n_users=3, n_items=4, **GMF.model_defaults.get("ranking", {}))
    neumf = NeuMF.Config(n_users=3, n_items=4, **NeuMF.model_defaults.get("ranking", {}))
    assert (neumf.mlp_factors, neumf.mlp_factors, neumf.layers) == (mlp.user_factors, mlp.item_factors, mlp.layers)
    NeuMF(neumf.model_copy(update={"factors": gmf.factors})).check_pretrained(GMF(gmf), MLP(mlp))


def _calibration_loss(model: GMF, users, items, negatives, a_b=None) -> float:
    """The mean log loss of the model's logits (or ``a * u.i + b``) on positives and negatives."""
    with torch.no_grad():
        pairs = [(users, items, 1.0), (users.repeat_interleave(negatives.shape[1]), negatives.reshape(-1), 0.0)]
        total, n = 0.0, 0
        for u, i, y in pairs:
            dot = (model.user_emb(u) * model.item_emb(i)).sum(-1)
            logit = model(Batch(u, i)) if a_b is None else a_b[0] * dot + a_b[1]
            total += float(torch.nn.functional.binary_cross_entropy_with_logits(logit, torch.full_like(logit, y), reduction="sum"))
            n += len(u)
    return total / n


def test_gmf_als_start_is_calibrated_to_the_log_loss():
    """``init als`` + ``calibrate``: the ALS vectors stay, the output weights are one common scale
    and the bias is that of the log-loss optimum (no nearby scale / bias does better), so the
    starting loss is well below the uncalibrated start's (bias 0)."""
    from deeprecs.models.ncf import calibration_pairs

    train = make_split(_planted(), "loo", seed=0, n_negatives=20).train
    config = dict(n_users=train.n_users, n_items=train.n_items, factors=4, init="als", init_norm=2.0)
    plain, calibrated = GMF(GMF.Config(**config, calibrate=False)), GMF(GMF.Config(**config))
    for m in (plain, calibrated):
        m.fit_data(FitData(train))
    torch.testing.assert_close(calibrated.user_emb.weight, plain.user_emb.weight)  # the same ALS vectors
    w = calibrated.out.weight.detach()
    assert torch.all(w == w[0, 0]) and calibrated.out.bias.item() < -0.5  # one scale; a 1:4 mix pulls the bias down
    assert plain.out.bias.item() == 0.0
    pairs = calibration_pairs(train)
    a, b = w[0, 0].item(), calibrated.out.bias.item()
    best = _calibration_loss(calibrated, *pairs)
    assert best == pytest.approx(_calibration_loss(calibrated, *pairs, a_b=(a, b)), rel=1e-5)
    for da, db in [(0.05, 0), (-0.05, 0), (0, 0.05), (0, -0.05)]:
        assert _calibration_loss(calibrated, *pairs, a_b=(a * (1 + da), b + db)) > best
    assert best < _calibration_loss(plain, *pairs) - 0.05


def test_neumf_calibrated_start_is_gmfs_calibrated_start_and_the_tower_can_learn():
    """NeuMF ``calibrate``: the fused model starts with GMF's calibrated start exactly (the same
    ALS vectors at the same norm, the same fitted scale and bias) and the MLP branch's output
    weights at 0; those weights still get a gradient, so the tower is learnt from there."""

    train = make_split(_planted(), "loo", seed=0, n_negatives=20).train
    sizes = dict(n_users=train.n_users, n_items=train.n_items, init="als")
    gmf = GMF(GMF.Config(**sizes, factors=4, init_norm=2.0))
    neumf = NeuMF(NeuMF.Config(**sizes, factors=4, mlp_factors=3, layers=[6, 3], init_norm=15.0, init_gmf=5.0, gmf_norm=2.0, calibrate=True))
    for m in (gmf, neumf):
        m.fit_data(FitData(train))
    torch.testing.assert_close(neumf.gmf_user.weight, gmf.user_emb.weight)
    assert neumf.mlp_user.weight.norm(dim=1).mean().item() == pytest.approx(15.0, rel=1e-4)  # the MLP branch keeps its norm
    assert torch.all(neumf.out.weight[0, 4:] == 0) and neumf.out.bias.item() < -0.5
    users, items = torch.from_numpy(train.users), torch.from_numpy(train.items)
    torch.testing.assert_close(neumf(Batch(users, items)), gmf(Batch(users, items)), rtol=1e-5, atol=1e-5)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(neumf(Batch(users, items)), torch.ones(len(users)))
    loss.backward()
    assert neumf.out.weight.grad[0, 4:].abs().sum() > 0


def test_calibration_pairs_are_train_pairs_with_non_interacted_negatives():
    from deeprecs.models.ncf import calibration_pairs

    train = make_split(_planted(), "loo", seed=0, n_negatives=20).train
    users, items, negatives = calibration_pairs(train, n_negatives=3, max_pairs=50, seed=1)
    assert len(users) == len(items) == 50 and negatives.shape == (50, 3)
    seen = set(zip(train.users.tolist(), train.items.tolist()))
    assert all((u, i) in seen for u, i in zip(users.tolist(), items.tolist()))
    assert not any((u, n) in seen for u, row in zip(users.tolist(), negatives.tolist()) for n in row)
    again = calibration_pairs(train, n_negatives=3, max_pairs=50, seed=1)
    assert all(torch.equal(x, y) for x, y in zip((users, items, negatives), again))  # seeded


def test_pretrained_neumf_has_its_own_train_defaults():
    plain, tuned = NeuMF.defaults(Setting("ranking")).train, NeuMF.defaults(Setting("ranking", pretrain=("a run",))).train
    assert tuned.get("lr", 1.0) < plain.get("lr", 1.0)


def _planted(n_users: int = 60, n_items: int = 40, per_user: int = 10, seed: int = 0) -> Interactions:
    """Two taste groups: even users pick only from the first half of the items, odd users from
    the second; timestamps in random order, so the held-out items are random in-group picks."""
    rng = np.random.default_rng(seed)
    half = n_items // 2
    users, items = [], []
    for u in range(n_users):
        pool = np.arange(half) + (u % 2) * half
        users += [u] * per_user
        items += list(rng.choice(pool, per_user, replace=False))
    return Interactions.from_raw(users, items, timestamps=rng.permutation(len(users)))


@pytest.mark.parametrize("name", ["gmf", "neumf"])
def test_learns_planted_groups_under_leave_one_out(name):
    split = make_split(_planted(), "loo", seed=0, n_negatives=20)
    train = split.train
    model = GMF(GMF.Config(n_users=train.n_users, n_items=train.n_items, factors=8)) if name == "gmf" else \
        NeuMF(NeuMF.Config(n_users=train.n_users, n_items=train.n_items, factors=8, mlp_factors=8, layers=[16, 8]))
    cfg = TrainConfig(epochs=30, batch_size=32, lr=0.01, loss="bce", threads=1, progress=False, patience=0, n_negatives=4)
    fit(model, RankingTask(train, cfg), cfg)
    metrics = evaluate_sampled(score_fn(model), train, split.test, split.test_negatives, ks=(10,))
    # About half of the 20 negatives fall in the user's group: a model that learnt the groups
    # ranks the test item in the top ~11 of 21, random scores in the top 10 only ~48 % of the time.
    assert metrics["hr@10"] > 0.85
    fast = sampled_candidates(model, split.test, split.test_negatives)
    assert fast == pytest.approx({"hr@10": metrics["hr@10"], "ndcg@10": metrics["ndcg@10"]})


def test_min_steps_per_epoch_shrinks_a_large_batch_on_small_data():
    """The NCF defaults use 8192-row batches (tuned on ML-1M); on small data the batch shrinks so
    that an epoch still has ``min_steps_per_epoch`` optimiser steps."""
    train = _planted()
    model = GMF(GMF.Config(n_users=train.n_users, n_items=train.n_items, factors=4))
    cfg = TrainConfig(epochs=1, batch_size=8192, min_steps_per_epoch=10, loss="bce", threads=1, progress=False)
    task = RankingTask(train, cfg)
    sizes: list[int] = []
    original = task.loss
    task.loss = lambda m, idx, g: (sizes.append(len(idx)), original(m, idx, g))[1]
    fit(model, task, cfg)
    assert len(sizes) == 10 and sum(sizes) == len(train)


@pytest.mark.parametrize("source", ["biased-mf", "als"])
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_neumf_gmf_branch_from_a_dot_product_model_is_its_calibrated_score(source, alpha):
    from deeprecs.models import build_model

    _, mlp = _pretrained_pair()
    torch.manual_seed(1)
    other = build_model(source, 7, 9, factors=4)
    with torch.no_grad():
        for p in other.parameters():
            p.normal_()
    k = other.retrieval_vectors()[0].shape[1]  # biased MF: its biases are two more dimensions
    neumf = NeuMF(NeuMF.Config(n_users=7, n_items=9, factors=k, mlp_factors=3, layers=[6, 3], alpha=alpha))
    neumf.load_pretrained(other, mlp, calibration=(2.5, -0.75))
    neumf.eval()
    users, items = torch.meshgrid(torch.arange(7), torch.arange(9), indexing="ij")
    users, items = users.flatten(), items.flatten()
    with torch.no_grad():
        expected = alpha * (2.5 * other(Batch(users, items)) - 0.75) + (1 - alpha) * mlp(Batch(users, items))
        torch.testing.assert_close(neumf(Batch(users, items)), expected, rtol=1e-5, atol=1e-5)


def test_calibration_is_the_log_loss_optimum():
    from deeprecs.models import build_model
    from deeprecs.models.ncf import calibrate

    torch.manual_seed(0)
    mf = build_model("mf", 5, 8, factors=3, init_std=1.0)
    users = torch.tensor([0, 1, 2, 3, 4, 0, 1])
    items = torch.tensor([1, 2, 3, 4, 5, 6, 7])
    negatives = torch.randint(0, 8, (7, 4))
    a, b = calibrate(mf, users, items, negatives)
    with torch.no_grad():
        s = torch.cat([mf(Batch(users, items)), mf(Batch(users.repeat_interleave(4), negatives.reshape(-1)))]).double()
    y = torch.cat([torch.ones(7), torch.zeros(28)]).double()
    residual = torch.sigmoid(a * s + b) - y
    # the gradient of the mean log loss in (a, b) vanishes at the fitted values
    assert abs(float(residual.sum())) < 1e-8 and abs(float((residual * s).sum())) < 1e-8


def test_a_model_that_is_not_a_dot_product_cannot_start_the_gmf_branch():
    _, mlp = _pretrained_pair()
    neumf = NeuMF(NeuMF.Config(n_users=7, n_items=9, factors=4, mlp_factors=3, layers=[6, 3]))
    with pytest.raises(ConfigError, match="cannot start neumf's GMF branch"):
        neumf.load_pretrained(mlp, mlp)


def test_alpha_is_chosen_on_validation_unless_given(monkeypatch):
    from pathlib import Path

    import deeprecs.pipeline as pipeline
    import deeprecs.pipeline.scoring as scoring
    from deeprecs.data.dataset import Split
    from deeprecs.runs import Run

    gmf, mlp = _pretrained_pair()
    seen = []

    def fake_validator(task, train, valid, valid_neg, rating_values, dislikes=None, cold_candidates=False):
        def validate(model):
            seen.append(model.config.alpha)
            # the fused output layer really is the alpha being scored
            torch.testing.assert_close(model.out.weight[:, :4], model.config.alpha * gmf.out.weight)
            return -abs(model.config.alpha - 0.8)
        return validate, "valid_ndcg@10", True

    monkeypatch.setattr(scoring, "validator", fake_validator)
    users, items = np.arange(7), np.arange(7)
    from deeprecs.data.interactions import IdMap

    part = Interactions(users=users, items=items, user_map=IdMap(np.arange(7)), item_map=IdMap(np.arange(9)))
    runs = [Run(Path(name), model, {"task": "ranking"}, part.user_map, part.item_map, part) for name, model in (("gmf", gmf), ("mlp", mlp))]
    split = Split(train=part, test=part, valid=part)

    def setup(**options):  # noqa: ANN202
        spec = pipeline.TrainSpec(model="neumf", data="-", pretrain=["gmf", "mlp"], model_options={"mlp_factors": 3, "layers": [6, 3], **options})
        return pipeline.setup(pipeline.Context.of(spec, split, runs=runs))

    neumf = setup()
    assert sorted(seen) == sorted(NeuMF.alpha_grid) and seen[0] == 0.5  # the paper's value first: ties keep it
    assert neumf.config.alpha == 0.8 and neumf.config.factors == 4  # the GMF branch takes the run's size
    torch.testing.assert_close(neumf.out.weight[:, :4], 0.8 * gmf.out.weight)
    seen.clear()
    given = setup(alpha=0.3)
    assert seen == [] and given.config.alpha == 0.3  # an explicit option is never searched
    torch.testing.assert_close(given.out.weight[:, :4], 0.3 * gmf.out.weight)


def test_neumf_pretrained_from_als_and_mlp_runs_end_to_end(movielens_dir, tmp_path):
    from deeprecs.pipeline import TrainSpec, train
    from deeprecs.runs import load_run

    base = {"data": str(movielens_dir), "split": "holdout:2", "positive": 4.0, "seed": 0, "train_options": {"epochs": 2, "threads": 1}}
    train(TrainSpec(model="als", model_options={"factors": 6, "iterations": 3}, **base), out=tmp_path / "als", progress=False)
    mlp_opts = {"user_factors": 4, "item_factors": 4, "layers": [8, 4]}
    train(TrainSpec(model="mlp", task="ranking", model_options=mlp_opts, **base), out=tmp_path / "mlp", progress=False)
    spec = TrainSpec(model="neumf", pretrain=[str(tmp_path / "als"), str(tmp_path / "mlp")],
                     model_options={"mlp_factors": 4, "layers": [8, 4]}, **base)
    model, metrics, history, *_ = train(spec, out=tmp_path / "neumf", progress=False)
    assert model.config.factors == 6  # the GMF branch takes the ALS run's size
    assert history.start_valid is not None and history.best_epoch >= 0  # the fused start competed as epoch 0
    assert model.config.alpha in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # chosen on validation
    assert 0.0 <= metrics["auc"] <= 1.0 and "ndcg@10" in metrics
    assert load_run(tmp_path / "neumf").model.config.alpha == model.config.alpha  # saved with the run
