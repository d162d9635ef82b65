"""Known dislikes (train ratings below --positive): kept beside the positives, ranked last by
evaluation and validation (candidates stay the protocol's), saved with the run, never
recommended; --no-dislikes drops them as before."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

import deeprecs.pipeline as pipeline
from deeprecs.models.base import FitData
from deeprecs.cli.main import cli
from deeprecs.evaluation.dislikes import dislikes_last, dislikes_last_pairs
from deeprecs.evaluation.protocols import evaluate_ranking
from deeprecs.pipeline import TrainSpec, train
from deeprecs.runs import load_run


def _pairs(part) -> set:
    return set(zip(part.users.tolist(), part.items.tolist()))


def test_disliked_items_go_below_every_other_item_and_nothing_else_moves():
    scores = torch.tensor([[0.5, 2.0, -1.0, 3.0], [1.0, 0.0, 4.0, -2.0]])
    disliked = sp.csr_matrix((np.ones(3), ([0, 0, 1], [1, 3, 2])), shape=(2, 4))
    out = dislikes_last(lambda users: scores[users], disliked)(torch.tensor([0, 1]))
    assert out[0, 0] == 0.5 and out[0, 2] == -1.0 and out[1, 0] == 1.0 and out[1, 1] == 0.0 and out[1, 3] == -2.0
    assert out[0, 1] < -1.0 and out[0, 3] < -1.0 and out[1, 2] < -2.0  # below each user's lowest other item
    assert torch.isfinite(out).all()
    # the pairs version gives the same scores
    users, items = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    pairs = dislikes_last_pairs(lambda u, i: scores[u, i], disliked)(users, items)
    assert torch.equal(pairs.view(2, 4).argsort(1), out.argsort(1))
    same = dislikes_last(lambda users: scores[users], None)
    assert torch.equal(same(torch.tensor([1])), scores[[1]])  # nothing known: the scores as they are


def test_auc_with_dislikes_last_is_sklearns_on_the_moved_scores():
    rng = np.random.default_rng(0)
    from deeprecs.data.interactions import IdMap, Interactions

    n_users, n_items = 12, 15
    maps = {"user_map": IdMap(np.arange(n_users)), "item_map": IdMap(np.arange(n_items))}
    cells = rng.permutation(n_users * n_items)
    train = Interactions(users=cells[:40] // n_items, items=cells[:40] % n_items, **maps)
    test = Interactions(users=cells[40:70] // n_items, items=cells[40:70] % n_items, **maps)
    disliked = Interactions(users=cells[70:110] // n_items, items=cells[70:110] % n_items, **maps).tocsr()
    scores = torch.from_numpy(rng.normal(size=(n_users, n_items)))
    auc = evaluate_ranking(dislikes_last(lambda u: scores[u], disliked), train, test, ks=(5,))["auc"]
    expected = []
    tr, te, dl = train.tocsr().toarray() > 0, test.tocsr().toarray() > 0, disliked.toarray() > 0
    for u in range(n_users):
        cand = ~tr[u]
        if te[u][cand].any() and (~te[u][cand]).any():
            s = np.where(dl[u], scores.numpy().min() - 10, scores[u].numpy())
            expected.append(roc_auc_score(te[u][cand], s[cand]))
    assert auc == pytest.approx(np.mean(expected), abs=1e-12)


@pytest.fixture
def rated(tmp_path, monkeypatch, write_ml):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))
    return str(write_ml(tmp_path / "ml", n_users=30, n_items=40, per_user=14))


def test_the_split_keeps_train_ratings_below_positive_as_dislikes(rated):
    spec = TrainSpec(model="als", data=rated, split="random:0.2", positive=4, task="ranking")
    ds = pipeline.load_data(spec)
    split = pipeline.prepare_split(spec, ds, "ranking")
    raw = __import__("deeprecs.data", fromlist=["make_split"]).make_split(ds, "random:0.2", seed=0)
    below = raw.train.subset(raw.train.ratings < 4)
    assert split.dislikes is not None and _pairs(split.dislikes) == _pairs(below)
    assert split.notes["train_dislikes"] == len(below)
    assert not _pairs(split.dislikes) & (_pairs(split.train) | _pairs(split.valid))  # positives only there
    assert _pairs(split.train) | _pairs(split.valid) == _pairs(raw.train.subset(raw.train.ratings >= 4))
    assert _pairs(pipeline.evaluation_train(split)) == _pairs(split.train) | _pairs(split.valid)  # candidates: the protocol's
    off = pipeline.prepare_split(TrainSpec(model="als", data=rated, split="random:0.2", positive=4, task="ranking", dislikes=False), ds, "ranking")
    assert off.dislikes is None and _pairs(off.train) == _pairs(split.train)
    unrated = pipeline.prepare_split(TrainSpec(model="als", data=rated, split="random:0.2", task="ranking"), ds, "ranking")
    assert unrated.dislikes is None  # no --positive: every interaction is a positive


def test_a_run_ranks_dislikes_last_saves_them_and_never_recommends_them(rated, tmp_path):
    opts = {"factors": 4, "iterations": 3}
    _, metrics, _, split, _ = train(TrainSpec(model="als", data=rated, split="random:0.2", positive=4, model_options=opts),
                                    out=tmp_path / "als", progress=False)
    _, plain, _, _, _ = train(TrainSpec(model="als", data=rated, split="random:0.2", positive=4, model_options=opts, dislikes=False),
                              out=tmp_path / "plain", progress=False)
    assert metrics["n_users_auc"] == plain["n_users_auc"]  # the same users and candidates
    run = load_run(tmp_path / "als")
    assert run.dislikes is not None and _pairs(run.dislikes) == _pairs(split.dislikes)
    assert load_run(tmp_path / "plain").dislikes is None
    assert run.config["dislikes"] is True
    # evaluate RUN reproduces the run's metrics (dislikes last again)
    out = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "als"), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["auc"] == pytest.approx(metrics["auc"], abs=1e-12)
    # a dislike is seen: recommend leaves it out, for every user, even with k = all items
    seen = run.seen.toarray() > 0
    assert all(seen[u, i] for u, i in _pairs(run.dislikes))
    users = [str(run.user_map.raw[u]) for u in range(len(run.user_map))]
    args = ["recommend", str(tmp_path / "als"), "-k", str(len(run.item_map)), "--json"]
    for u in users:
        args += ["--user", u]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    disliked = {(str(run.user_map.raw[u]), int(run.item_map.raw[i])) for u, i in _pairs(run.dislikes)}
    recommended = {(block["user"], rec["item"]) for block in json.loads(out.output) for rec in block["recommendations"]}
    assert recommended and not recommended & disliked


def test_dislikes_rank_last_on_validation_too(rated, monkeypatch):
    spec = TrainSpec(model="als", data=rated, split="random:0.2", positive=4, task="ranking")
    split = pipeline.prepare_split(spec, pipeline.load_data(spec), "ranking")
    scores = torch.from_numpy(np.random.default_rng(0).normal(size=(split.train.n_users, split.train.n_items)))

    class Noise:  # a scorer that knows nothing: the dislikes are where chance puts them
        device = torch.device("cpu")
        score_all = staticmethod(lambda batch: scores[batch.users])

    model = Noise()
    with_d, _, _ = pipeline.validator("ranking", split.train, split.valid, None, None, split.dislikes)
    without, _, _ = pipeline.validator("ranking", split.train, split.valid, None, None, None)
    moved = evaluate_ranking(dislikes_last(lambda users: scores[users], split.dislikes.tocsr()), split.train, split.valid, ks=(10,))["auc"]
    assert with_d(model) == pytest.approx(moved) and with_d(model) != without(model)


@pytest.mark.parametrize("name", ["mlp", "deep-triplet", "gmf", "neumf"])
def test_an_als_start_learns_from_the_dislikes_as_als_does(rated, name):
    from deeprecs.models import build_model
    from deeprecs.models.als import ALS

    spec = TrainSpec(model=name, data=rated, split="random:0.2", positive=4, task="ranking")
    split = pipeline.prepare_split(spec, pipeline.load_data(spec), "ranking")
    n_users, n_items = split.train.n_users, split.train.n_items
    options = {"init": "als", **({"init_gmf": 5.0} if name == "neumf" else {})}
    model = build_model(name, n_users, n_items, **options)
    model.fit_data(FitData(split.train, split.dislikes))
    user_emb = getattr(model, "user_emb", None) or model.mlp_user
    factors = user_emb.weight.shape[1]
    start = {"alpha": model.config.init_alpha}
    als = ALS(ALS.Config(n_users=n_users, n_items=n_items, factors=factors, **start))
    als.fit_data(FitData(split.train, split.dislikes, recency=model.config.init_recency))
    plain = ALS(ALS.Config(n_users=n_users, n_items=n_items, factors=factors, **start))
    plain.fit_data(FitData(split.train))
    got = torch.nn.functional.normalize(user_emb.weight, dim=1)
    assert torch.allclose(got, torch.nn.functional.normalize(als.user_factors, dim=1), atol=1e-5)  # the same vectors, scaled
    assert not torch.allclose(got, torch.nn.functional.normalize(plain.user_factors, dim=1), atol=1e-3)
