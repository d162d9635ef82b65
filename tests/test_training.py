"""The training loop: early stopping, seeds, divergence, history."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from deeprecs.batch import Batch
from deeprecs.errors import DeeprecsError
from deeprecs.models import build_model
from deeprecs.pipeline import TrainSpec, train
from deeprecs.training import RankingTask, RatingTask, TrainConfig, fit

FAST = {"batch_size": 32, "lr": 0.05, "threads": 1, "progress": False}


def mf(data, seed: int = 0):
    torch.manual_seed(seed)
    return build_model("biased-mf", data.n_users, data.n_items, factors=4)


def test_early_stopping_restores_the_best_epochs_weights(checkerboard):
    data = checkerboard.rating
    model = mf(data)
    script = iter([0.9, 0.5, 0.7, 0.8, 0.6, 0.1])  # best at epoch 2, patience 3 stops after epoch 5
    snapshots = []

    def validate(m):
        snapshots.append(copy.deepcopy(m.state_dict()))
        return next(script)

    cfg = TrainConfig(epochs=6, patience=3, **FAST)
    history = fit(model, RatingTask(data), cfg, validate, "valid_rmse", higher_is_better=False)
    assert history.best_epoch == 2 and history.best_valid == 0.5
    assert history.stopped_early and len(history.epochs) == 5 and len(snapshots) == 5
    assert [row["valid_rmse"] for row in history.epochs] == [0.9, 0.5, 0.7, 0.8, 0.6]
    for key, value in model.state_dict().items():
        assert torch.equal(value, snapshots[1][key]), key
    assert not torch.equal(model.user_emb.weight, snapshots[-1]["user_emb.weight"])
    assert not model.training


def test_a_validated_start_competes_as_epoch_0_and_is_kept_when_no_epoch_beats_it(checkerboard):
    data = checkerboard.rating
    model = mf(data)
    start = {k: v.clone() for k, v in model.named_parameters()}
    # the start (first call) is best; patience 2 counts from epoch 2, training's own best, and stops after epoch 4
    script = iter([0.5, 0.7, 0.6, 0.8, 0.9, 0.4])
    cfg = TrainConfig(epochs=5, patience=2, **FAST)
    history = fit(model, RatingTask(data), cfg, lambda m: next(script), "valid_rmse", validate_start=True)
    assert history.best_epoch == 0 and history.best_valid == 0.5 == history.start_valid
    assert history.stopped_early and [row["valid_rmse"] for row in history.epochs] == [0.7, 0.6, 0.8, 0.9]
    for key, value in model.named_parameters():
        assert torch.equal(value, start[key]), key


def test_a_validated_start_loses_to_a_better_epoch(checkerboard):
    data = checkerboard.rating
    model = mf(data)
    script = iter([0.9, 0.6, 0.7, 0.8])
    cfg = TrainConfig(epochs=3, patience=0, **FAST)
    history = fit(model, RatingTask(data), cfg, lambda m: next(script), "valid_rmse", validate_start=True)
    assert history.best_epoch == 1 and history.best_valid == 0.6 and history.start_valid == 0.9 and len(history.epochs) == 3


def test_higher_is_better_validation(checkerboard):
    data = checkerboard.ranking
    model = mf(data)
    cfg = TrainConfig(epochs=3, patience=0, loss="bpr", **FAST)
    script = iter([0.6, 0.9, 0.8])
    history = fit(model, RankingTask(data, cfg), cfg, lambda m: next(script), "valid_auc", higher_is_better=True)
    assert history.best_epoch == 2 and not history.stopped_early and len(history.epochs) == 3


def test_same_seed_same_weights_other_seed_other_weights(checkerboard):
    data = checkerboard.ranking
    states = []
    for seed in (7, 7, 8):
        model = mf(data)  # same initial weights each time: the seed only drives the loop here
        cfg = TrainConfig(epochs=2, loss="bpr", seed=seed, **FAST)
        fit(model, RankingTask(data, cfg), cfg)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not torch.equal(states[0]["user_emb.weight"], states[2]["user_emb.weight"])


def test_divergence_raises_with_a_message(checkerboard):
    data = checkerboard.rating
    model = mf(data)
    cfg = TrainConfig(epochs=5, optimizer="sgd", **{**FAST, "lr": 1e12})
    with pytest.raises(DeeprecsError, match="diverged at epoch 1.*lower --lr"):
        fit(model, RatingTask(data), cfg)


def test_history_rows(checkerboard):
    data = checkerboard.rating
    cfg = TrainConfig(epochs=3, **FAST)
    history = fit(mf(data), RatingTask(data), cfg)
    assert [row["epoch"] for row in history.epochs] == [1, 2, 3]
    for row in history.epochs:
        assert math.isfinite(row["train_loss"]) and row["train_loss"] > 0
        assert row["examples_per_s"] > 0 and row["seconds"] >= 0
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"]
    assert history.fit_seconds > 0 and history.best_epoch == -1  # no validation, no best epoch


def test_rating_task_sets_the_offset_and_ranking_task_clears_it(checkerboard):
    model = mf(checkerboard.rating)
    fit(model, RatingTask(checkerboard.rating), TrainConfig(epochs=0, **FAST))
    assert model.rating_offset.item() == pytest.approx(float(checkerboard.rating.ratings.mean()))
    cfg = TrainConfig(epochs=0, loss="bpr", **FAST)
    fit(model, RankingTask(checkerboard.ranking, cfg), cfg)
    assert model.rating_offset.item() == 0


def test_pipeline_runs_repeat_in_one_process(movielens_dir):
    """The seed decides the initial weights too, not only the loop (two runs in one process)."""
    spec = lambda seed: TrainSpec(model="biased-mf", data=str(movielens_dir), seed=seed,  # noqa: E731
                                  model_options={"factors": 4}, train_options={"epochs": 2, "threads": 1})
    a, ma, *_ = train(spec(1), progress=False)
    b, mb, *_ = train(spec(1), progress=False)
    c, _, *_ = train(spec(2), progress=False)
    assert ma["rmse"] == mb["rmse"]
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.user_emb.weight, c.user_emb.weight)


def test_sparse_adam_updates_only_touched_rows_and_learns():
    """sparse-adam: a step moves only the embedding rows in the batch; training still learns."""
    import numpy as np
    import torch

    from deeprecs.data.interactions import Interactions
    from deeprecs.models import build_model
    from deeprecs.training import RatingTask, TrainConfig, _optimizer, fit

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 400), rng.integers(0, 20, 400)
    ratings = np.where((users < 15) == (items < 10), 5.0, 1.0)
    train = Interactions.from_raw(users, items, ratings)
    model = build_model("biased-mf", train.n_users, train.n_items, factors=4, l2=0.0)
    cfg = TrainConfig(optimizer="sparse-adam", lr=0.05, epochs=1, progress=False)
    task = RatingTask(train)
    task.prepare(model)
    opt = _optimizer(model, cfg)
    before = model.user_emb.weight.detach().clone()
    idx = torch.tensor([0, 1, 2])
    opt.zero_grad()
    task.loss(model, idx, torch.Generator()).backward()
    opt.step()
    moved = (model.user_emb.weight.detach() != before).any(1)
    assert set(torch.nonzero(moved).flatten().tolist()) == set(torch.from_numpy(train.users[:3]).tolist())

    model = build_model("biased-mf", train.n_users, train.n_items, factors=4, l2=0.0)
    history = fit(model, RatingTask(train), TrainConfig(optimizer="sparse-adam", lr=0.05, epochs=30, batch_size=32, progress=False))
    assert history.epochs[-1]["train_loss"] < 0.2 * history.epochs[0]["train_loss"]


def test_a_presets_training_defaults_apply_and_options_override_them(movielens_dir, tmp_path):
    from deeprecs.models import get_model_class
    from deeprecs.runs import load_run

    preset = get_model_class("warp-mf")
    spec = TrainSpec(model="warp-mf", data=str(movielens_dir), positive=4.0, model_options={"factors": 4},
                     train_options={"epochs": 1, "threads": 1})
    train(spec, out=tmp_path / "w", progress=False)
    saved = load_run(tmp_path / "w").config["train"]
    assert saved["lr"] == preset.train_defaults["ranking"]["lr"] and saved["patience"] == preset.train_defaults["ranking"]["patience"]
    assert saved["loss"] == "warp" and saved["epochs"] == 1
    spec.train_options["lr"] = 0.05
    train(spec, out=tmp_path / "w2", progress=False)
    assert load_run(tmp_path / "w2").config["train"]["lr"] == 0.05


def test_warp_task_scores_candidates_without_autograd_but_has_the_full_loss_and_gradients(checkerboard):
    """RankingTask re-scores only WARP's picked candidate with autograd: the loss and every
    gradient equal those of scoring all candidates with it."""
    data = checkerboard.ranking
    model = mf(data)
    task = RankingTask(data, TrainConfig(loss="warp", **FAST))
    idx = torch.arange(len(task))

    def loss_and_grads(full: bool):
        model.zero_grad()
        gen = torch.Generator().manual_seed(5)
        if full:  # the plain path: every candidate through autograd, then the loss
            u, i = task.users[idx], task.items[idx]
            neg = task.sampler.sample(u, task.n_neg, gen)
            s = model.score_candidates(Batch(u, torch.cat([i.unsqueeze(1), neg], 1)))
            loss = task.loss_fn(s[:, 0], s[:, 1:], margin=task.margin, n_items=task.n_items) + model.regularization(Batch(u, i))
        else:
            loss = task.loss(model, idx, gen)
        loss.backward()
        return loss.detach(), {k: p.grad.clone() for k, p in model.named_parameters()}

    (fast, fast_grads), (full, full_grads) = loss_and_grads(False), loss_and_grads(True)
    assert fast.item() > 0 and fast.item() == pytest.approx(full.item(), rel=1e-6)
    for key, grad in full_grads.items():
        torch.testing.assert_close(fast_grads[key], grad, rtol=1e-5, atol=1e-7)


def test_weighted_epochs_draw_rows_in_proportion_to_their_weights():
    from deeprecs.training import _batches

    weights = torch.tensor([1.0, 1.0, 2.0, 6.0])
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(4)
    for _ in range(3000):
        idx = torch.cat(list(_batches(4, 3, g, weights)))
        assert len(idx) == 4  # an epoch has as many draws as rows
        counts += torch.bincount(idx, minlength=4)
    torch.testing.assert_close(counts / counts.sum(), weights / weights.sum(), atol=0.01, rtol=0)
    plain = torch.cat(list(_batches(4, 3, g)))
    assert sorted(plain.tolist()) == [0, 1, 2, 3]  # unweighted: each row once


def test_ranking_task_weights_come_from_recency_and_need_timestamps():
    from deeprecs.data.interactions import IdMap, Interactions
    from deeprecs.data.recency import recency_weights

    users, items, ts = np.array([0, 0, 1, 0]), np.array([1, 2, 0, 3]), np.array([5, 9, 1, 7])
    maps = {"user_map": IdMap(np.arange(2)), "item_map": IdMap(np.arange(4))}
    cfg = TrainConfig(loss="bce", recency=10.0, recency_scale=2.0)
    task = RankingTask(Interactions(users=users, items=items, timestamps=ts, **maps), cfg)
    torch.testing.assert_close(task.weights, torch.from_numpy(recency_weights(users, items, ts, 10.0, 2.0)))
    torch.testing.assert_close(task.weights, torch.tensor([1 + 10 * np.exp(-1.0), 11.0, 11.0, 1 + 10 * np.exp(-0.5)], dtype=torch.float64))
    assert RankingTask(Interactions(users=users, items=items, **maps), cfg).weights is None
    assert RankingTask(Interactions(users=users, items=items, timestamps=ts, **maps), TrainConfig(loss="bce")).weights is None


def test_recency_is_a_default_only_where_the_test_items_are_the_latest(checkerboard):
    from deeprecs.data.dataset import Dataset, Split
    from deeprecs.models.base import NEXT_ITEM_TRAIN_DEFAULTS
    from deeprecs.pipeline import Context

    data = checkerboard.ranking
    timed = data.replace(timestamps=np.arange(len(data.users)))

    def options(split: Split, model: str = "mlp", **train_opts) -> dict:
        spec = TrainSpec(model=model, data="-", task="ranking", train_options=train_opts)
        ctx = Context(spec, Dataset("-", split.train), split, "ranking", torch.device("cpu"), progress=False)
        return ctx.resolve().train.model_dump()

    loo = Split(train=timed, test=timed, spec="loo")
    assert {k: options(loo)[k] for k in NEXT_ITEM_TRAIN_DEFAULTS} == NEXT_ITEM_TRAIN_DEFAULTS == {"recency": 20.0, "recency_scale": 5.0}
    assert {k: options(Split(train=timed, test=timed, spec="ncf"))[k] for k in NEXT_ITEM_TRAIN_DEFAULTS} == NEXT_ITEM_TRAIN_DEFAULTS
    assert options(Split(train=timed, test=timed, spec="random:0.2"))["recency"] == 0  # test items not the latest
    assert options(Split(train=data, test=data, spec="loo"))["recency"] == 0  # no timestamps to tell
    assert options(loo, recency=3.0)["recency"] == 3.0  # the user's value wins
    assert options(loo, model="als")["recency"] == 0  # ALS chooses it on validation (its grid)
    assert options(loo, model="blend")["recency"] == 0  # a blend's members bring their own
    assert options(loo, recency=0.0)["recency"] == 0.0  # the user's choice wins
