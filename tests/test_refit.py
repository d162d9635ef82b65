"""Refit on train + validation: the settings validation chose are kept, the model is the same as
one trained on the merged data from the start, evaluation candidates stay the protocol's, and
a run pre-training another is validated as it was before its own refit."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import deeprecs.pipeline as pipeline
from deeprecs.batch import Batch
from deeprecs.data.sequences import user_histories
from deeprecs.models.base import FitData
from deeprecs.errors import ConfigError
from deeprecs.models import build_model, get_model_class
from deeprecs.pipeline import TrainSpec, train
from deeprecs.runs import load_run
from deeprecs.training import RankingTask, TrainConfig, fit, seed_everything


@pytest.fixture
def loo_data(tmp_path, monkeypatch, write_ml):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))
    return str(write_ml(tmp_path / "ml", n_users=30, n_items=120, per_user=6))  # 99 negatives need room


def _pairs(part) -> set:
    return set(zip(part.users.tolist(), part.items.tolist()))


def test_refit_is_on_by_default_only_for_a_protocol_hold_out(loo_data):
    spec = TrainSpec(model="popularity", data=loo_data, split="loo", task="ranking")
    ds = pipeline.load_data(spec)
    loo = pipeline.prepare_split(spec, ds, "ranking")
    assert pipeline.refits_by_default(loo) and pipeline.refits_by_default(loo, get_model_class("als"))
    sasrec = get_model_class("sasrec")
    assert not pipeline.refits_by_default(loo, sasrec)  # a fresh refit: not worth its cost ...
    assert pipeline.refits_by_default(loo, sasrec, TrainConfig(refit_epochs=2))  # ... a warm one is
    assert not pipeline.refits_by_default(loo, sasrec, TrainConfig(refit_epochs=0))
    for name, warm in (("sasrec", 3), ("gru4rec", 0)):  # the models' defaults: SASRec's warm refit, GRU4Rec's none
        cfg = pipeline.Context.of(TrainSpec(model=name, data=loo_data, split="loo"), loo).resolve().train
        assert cfg.refit_epochs == warm and pipeline.refits_by_default(loo, get_model_class(name), cfg) == bool(warm)
    carved = pipeline.prepare_split(TrainSpec(model="popularity", data=loo_data, split="random:0.2", task="ranking"), ds, "ranking")
    assert carved.valid is not None and not pipeline.refits_by_default(carved)
    full = pipeline.with_validation_in_train(loo)
    assert full.valid is None and _pairs(full.train) == _pairs(loo.train) | _pairs(loo.valid)
    assert len(full.train) == len(loo.train) + len(loo.valid)


def test_a_refitted_model_is_the_one_trained_on_train_plus_validation_for_the_best_epochs(loo_data, tmp_path):
    options = {"factors": 8, "init": "random"}
    spec = TrainSpec(model="gmf", data=loo_data, split="loo", model_options=options,
                     train_options={"epochs": 4, "patience": 0, "threads": 1})
    model, metrics, history, split, ds = train(spec, out=tmp_path / "gmf", progress=False)
    assert metrics["refit"] is True and metrics["refit_seconds"] > 0 and history.best_epoch >= 1

    full = pipeline.with_validation_in_train(split)
    resolved = pipeline.Context.of(spec, split).resolve()
    cfg = resolved.train.model_copy(update={"epochs": history.best_epoch})
    assert cfg.loss == "bce"
    seed_everything(0)
    reference = build_model("gmf", full.train.n_users, full.train.n_items, **resolved.model)
    reference.fit_data(FitData(full.train))
    fit(reference, RankingTask(full.train, cfg), cfg)
    pipeline.forget_cold(reference, full.train, "ranking")
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name

    run = load_run(tmp_path / "gmf")
    assert run.before_refit is not None and run.validation_model is run.before_refit
    assert not torch.equal(run.before_refit.item_emb.weight, run.model.item_emb.weight)
    # evaluation candidates stay the protocol's: validation items are not train data of the run
    assert _pairs(run.train) == _pairs(split.train) and not _pairs(split.valid) & _pairs(run.train)
    # ... but recommendations treat them as seen: the user had them
    assert _pairs(run.valid) == _pairs(split.valid)
    seen = run.seen.tocoo()
    assert set(zip(seen.row.tolist(), seen.col.tolist())) == _pairs(split.train) | _pairs(split.valid)
    from deeprecs.retrieval import topk

    users = np.unique(split.valid.users)
    items, _ = topk(run.model, users, 20, exclude=run.seen)
    recommended = {(int(u), int(i)) for u, row in zip(users, np.asarray(items)) for i in row}
    assert not recommended & (_pairs(split.valid) | _pairs(split.train))


def test_als_refit_keeps_what_the_validation_grid_chose(loo_data, tmp_path):
    spec = TrainSpec(model="als", data=loo_data, split="loo", model_options={"factors": 6, "iterations": 3},
                     train_options={"threads": 1})
    model, metrics, _, split, _ = train(spec, out=tmp_path / "als", progress=False)
    assert metrics["refit"] is True
    recency = load_run(tmp_path / "als").config["train"]["recency"]  # a training option the grid chose, saved with the run
    assert recency in (0.0, 50.0)
    full = pipeline.with_validation_in_train(split)
    seed_everything(0)
    reference = build_model("als", full.train.n_users, full.train.n_items, factors=6, iterations=3, alpha=model.config.alpha,
                            dislike_weight=model.config.dislike_weight)
    reference.fit_data(FitData(full.train, recency=recency))
    assert torch.allclose(reference.score_all(Batch(torch.arange(5))), model.score_all(Batch(torch.arange(5))), atol=1e-5)


def test_no_refit_keeps_the_validated_model_and_writes_no_second_weights(loo_data, tmp_path):
    spec = TrainSpec(model="gmf", data=loo_data, split="loo", model_options={"factors": 4, "init": "random"},
                     train_options={"epochs": 2, "threads": 1}, refit=False)
    _, metrics, *_ = train(spec, out=tmp_path / "r", progress=False)
    assert metrics["refit"] is False and "refit_seconds" not in metrics
    assert not (tmp_path / "r" / "model-before-refit.pt").exists()
    assert load_run(tmp_path / "r").before_refit is None


def test_refit_without_a_validation_part_is_a_clear_error(loo_data):
    spec = TrainSpec(model="gmf", data=loo_data, split="random:0.2", valid_fraction=0.0, refit=True,
                     model_options={"factors": 4, "init": "random"}, train_options={"epochs": 1})
    with pytest.raises(ConfigError, match="--refit needs a validation part"):
        train(spec, progress=False)


def test_pretraining_validates_with_the_runs_before_their_refit_and_ends_with_their_final_models(loo_data, tmp_path,
                                                                                                 monkeypatch):
    base = {"data": loo_data, "split": "loo", "train_options": {"epochs": 2, "patience": 0, "threads": 1}}
    train(TrainSpec(model="gmf", model_options={"factors": 4, "init": "random"}, **base), out=tmp_path / "gmf", progress=False)
    train(TrainSpec(model="mlp", task="ranking", model_options={"user_factors": 4, "item_factors": 4, "layers": [8, 4],
                                                                "init": "random"}, **base),
          out=tmp_path / "mlp", progress=False)
    gmf_run = load_run(tmp_path / "gmf")
    seen = []
    from deeprecs.models.ncf import NeuMF

    original = NeuMF.load_pretrained

    def recording(self, gmf, mlp, calibration=(1.0, 0.0)):
        original(self, gmf, mlp, calibration)
        seen.append(gmf.item_emb.weight.detach().clone())

    monkeypatch.setattr(NeuMF, "load_pretrained", recording)
    spec = TrainSpec(model="neumf", pretrain=[str(tmp_path / "gmf"), str(tmp_path / "mlp")],
                     model_options={"mlp_factors": 4, "layers": [8, 4]}, **base)
    model, metrics, *_ = train(spec, out=tmp_path / "neumf", progress=False)
    assert len(seen) == 1 + len(NeuMF.alpha_grid)  # the start and each other fusion weight tried, then the refit's
    assert all(torch.equal(w, gmf_run.before_refit.item_emb.weight) for w in seen[:-1])  # validated before the GMF run's refit
    assert torch.equal(seen[-1], gmf_run.model.item_emb.weight)  # ends from its refitted model
    assert metrics["refit"] is True and 0.0 <= metrics["hr@10"] <= 1.0


def test_a_blend_refit_keeps_its_weights_and_refits_its_members(loo_data, tmp_path):
    spec = TrainSpec(model="blend", data=loo_data, split="loo", task="ranking",
                     model_options={"members": ["popularity", "ease"]}, train_options={"threads": 1})
    model, metrics, history, split, _ = train(spec, out=tmp_path / "b", progress=False)
    run = load_run(tmp_path / "b")
    assert metrics["refit"] is True and history.member_best_epochs == [-1, -1]
    assert torch.equal(run.before_refit.weights, run.model.weights)
    full = pipeline.with_validation_in_train(split)
    for i, name in enumerate(["popularity", "ease"]):
        reference = build_model(name, full.train.n_users, full.train.n_items)
        reference.fit_data(FitData(full.train))
        users = torch.arange(4)
        assert torch.allclose(reference.score_all(Batch(users)), model.members[i].score_all(Batch(users)), atol=1e-5), name
    users = torch.arange(full.train.n_users)
    assert not torch.allclose(run.before_refit.members[0].score_all(Batch(users)), run.model.members[0].score_all(Batch(users)))


SASREC = {"factors": 8, "max_len": 4, "blocks": 1, "dropout": 0.1}


def test_a_warm_refit_trains_the_validation_fit_on_train_plus_validation_for_its_epochs(loo_data):
    base = {"model": "sasrec", "data": loo_data, "split": "loo", "model_options": SASREC,
            "train_options": {"epochs": 3, "patience": 0, "threads": 1, "refit_epochs": 2}}
    model, metrics, history, split, _ = train(TrainSpec(**base), progress=False)
    assert metrics["refit"] is True and metrics["refit_seconds"] > 0 and len(history.epochs) == 3
    # the validation fit (the weights early stopping kept), its histories ending at the validation item
    validated, metrics, *_ = train(TrainSpec(**base, refit=False), progress=False)
    assert metrics["refit"] is False
    full = pipeline.with_validation_in_train(split)
    assert torch.equal(validated.histories, torch.from_numpy(user_histories(full.train, 4)))
    cfg = pipeline.Context.of(TrainSpec(**base), split).resolve().train.model_copy(update={"epochs": 2})
    seed_everything(0)
    reference = copy.deepcopy(validated)
    fit(reference, reference.make_task("ranking", FitData(full.train), cfg), cfg)
    pipeline.forget_cold(reference, full.train, "ranking")
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name
    assert not torch.equal(validated.item_emb.weight, model.item_emb.weight)


def test_a_warm_refit_of_a_model_that_takes_none_is_a_clear_error(loo_data):
    spec = TrainSpec(model="gmf", data=loo_data, split="loo", model_options={"factors": 4, "init": "random"},
                     train_options={"epochs": 1, "refit_epochs": 2})
    with pytest.raises(ConfigError, match="gmf takes no warm refit; drop --refit-epochs"):
        train(spec, progress=False)
