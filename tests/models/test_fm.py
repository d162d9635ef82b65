"""Factorization machines: the O(kn) pairwise term against the naive O(kn^2) sum, features that
score items never seen in training, new users and items given by features, saved and loaded."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from deeprecs.batch import Batch, FeatureBag
from deeprecs.data.features import FeatureTable, parse_columns
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.models import build_model
from deeprecs.models.base import FitData
from deeprecs.pipeline import forget_cold
from deeprecs.training import TrainConfig, fit


def random_features(n_rows: int, n_features: int, rng: np.random.Generator) -> FeatureTable:
    """A table whose rows hold 0..3 random features with random weights."""
    rows = [rng.choice(n_features, size=rng.integers(0, 4), replace=False) for _ in range(n_rows)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    indices = np.concatenate(rows).astype(np.int64)
    return FeatureTable(None, indptr, indices, rng.normal(size=len(indices)).astype(np.float32))


def naive_fm(model, user: int, item: int, uf: FeatureTable, itf: FeatureTable, train: Interactions) -> float:
    """``w0 + sum w_i x_i + sum_{i<j} <v_i, v_j> x_i x_j`` over the example's explicit entries."""
    entries = [(model.user_emb.weight[user], model.user_bias.weight[user, 0], 1.0, "user"),
               (model.item_emb.weight[item], model.item_bias.weight[item, 0], 1.0, "item")]
    for table, emb, bias, row, side in ((uf, model.user_feat_emb, model.user_feat_bias, user, "user"),
                                        (itf, model.item_feat_emb, model.item_feat_bias, item, "item")):
        for f, w in zip(*(a[0] for a in table.rows([row]))):
            entries.append((emb.weight[f], bias.weight[f, 0], float(w), side))
    rated = train.items[train.users == user]
    for j in rated:
        entries.append((model.implicit_emb.weight[j], model.implicit_bias.weight[j, 0], 1 / np.sqrt(len(rated)), "user"))
    raters = train.users[train.items == item]
    for v in raters if model.config.implicit_users else ():
        entries.append((model.implicit_user_emb.weight[v], model.implicit_user_bias.weight[v, 0], 1 / np.sqrt(len(raters)), "item"))
    score = float(model.global_bias) + sum(float(e[1]) * e[2] for e in entries)
    for a in range(len(entries)):
        for b in range(a + 1, len(entries)):
            if model.within or entries[a][3] != entries[b][3]:  # a hybrid MF: pairs across the sides only
                score += float(entries[a][0] @ entries[b][0]) * entries[a][2] * entries[b][2]
    return score


@pytest.mark.parametrize("name", ["fm", "deepfm", "hybrid-mf"])
def test_the_linear_time_pairwise_term_equals_the_naive_sum(name):
    rng = np.random.default_rng(0)
    n_users, n_items = 7, 9
    users, items = rng.integers(0, n_users, 30), rng.integers(0, n_items, 30)
    pairs = np.unique(np.stack([users, items]), axis=1)
    train = Interactions(pairs[0], pairs[1], IdMap(np.arange(n_users)), IdMap(np.arange(n_items)), rng.normal(size=pairs.shape[1]).astype(np.float32))
    uf, itf = random_features(n_users, 5, rng), random_features(n_items, 6, rng)
    torch.manual_seed(0)
    model = build_model(name, n_users, n_items, factors=4, init_std=0.5, n_user_features=5, n_item_features=6, implicit_users=True)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    model.fit_data(FitData(train, user_features=uf, item_features=itf))
    model.eval()
    u, i = torch.arange(n_users).repeat_interleave(n_items), torch.arange(n_items).repeat(n_users)
    with torch.no_grad():
        got = model(Batch(u, i))
        if name == "deepfm":
            side_u, side_i = model.user_side(Batch(u)), model.item_side(i)
            got = got - model.deep(torch.cat([model._fields(side_u), model._fields(side_i)], 1)).squeeze(-1)
    with torch.no_grad():
        want = torch.tensor([naive_fm(model, int(a), int(b), uf, itf, train) for a, b in zip(u, i)], dtype=torch.float32)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3)


# ------------------------------------------------------------------ features carry the signal
N_USERS, N_ITEMS = 40, 40
COLD = np.array([0, 1, 2, 3, 4, 20, 21, 22, 23, 24])  # five items of each group, never seen in training


def planted():
    """Users ``u < 20`` like the items of group 0 (``i < 20``), the others group 1's; an item's only
    feature is its group, so the held-out items can be told apart by features alone."""
    uu, ii = np.meshgrid(np.arange(N_USERS), np.arange(N_ITEMS), indexing="ij")
    liked = (uu < 20) == (ii < 20)
    keep = liked & ~np.isin(ii, COLD)
    train = Interactions(uu[keep], ii[keep], IdMap(np.arange(N_USERS), kind="user"), IdMap(np.arange(N_ITEMS), kind="item"))
    groups = pd.DataFrame({"group": np.where(np.arange(N_ITEMS) < 20, "a", "b")}, index=pd.Index(np.arange(N_ITEMS)))
    return train, FeatureTable.build(groups, np.arange(N_ITEMS), parse_columns("group=categorical")), groups


def cold_auc(scores: torch.Tensor) -> float:
    """Mean per-user AUC of the cold items: liked (same group) against not."""
    s = scores[:, COLD]
    liked = (torch.arange(N_USERS).unsqueeze(1) < 20) == torch.from_numpy(COLD < 20).unsqueeze(0)
    pos, neg = s.masked_fill(~liked, float("nan")), s.masked_fill(liked, float("nan"))
    wins = (pos.unsqueeze(2) > neg.unsqueeze(1)).float() + 0.5 * (pos.unsqueeze(2) == neg.unsqueeze(1)).float()
    return float(wins.sum((1, 2)).mean() / 25)


#: small options per model, and its loss
PLANTED = {"fm": ({"factors": 8, "l2": 1e-4, "implicit": False}, "bpr"), "deepfm": ({"factors": 8, "l2": 1e-4, "implicit": False}, "bpr"),
           "hybrid-mf": ({"factors": 8, "l2": 1e-4, "implicit": False}, "bpr"), "triplet": ({"factors": 8}, "margin"),
           "deep-triplet": ({"user_factors": 8, "item_factors": 8, "hidden_size": 16, "init": "random"}, "margin"),
           "two-tower": ({"factors": 8, "tower": [16, 8], "l2": 1e-4}, "bpr")}


def trained(item_features: FeatureTable | None, name: str = "fm"):
    train, *_ = planted()
    torch.manual_seed(0)
    options, loss = PLANTED[name]
    model = build_model(name, N_USERS, N_ITEMS, **options, n_item_features=0 if item_features is None else item_features.n_features)
    data = FitData(train, item_features=item_features)
    model.fit_data(data)
    cfg = TrainConfig(epochs=10, batch_size=64, lr=0.05, threads=1, progress=False, loss=loss, margin=0.5)
    fit(model, model.make_task("ranking", data, cfg), cfg)
    forget_cold(model, train, "ranking")
    return model.eval()


@pytest.mark.parametrize("name", list(PLANTED))
def test_items_never_seen_are_scored_by_their_features(name):
    _, table, groups = planted()
    with_features, ids_only = trained(table, name), trained(None, name)
    with torch.no_grad():
        assert cold_auc(with_features.score_all(Batch(torch.arange(N_USERS)))) > 0.95
        assert cold_auc(ids_only.score_all(Batch(torch.arange(N_USERS)))) == pytest.approx(0.5)
        # a new item given by its features alone (no row in the model) scores as the cold items do
        new = table.new_rows(groups.iloc[[0, 39]])
        scores = with_features(Batch(torch.tensor([0, 0]), torch.tensor([-1, -1]), item_features=new))
        assert scores[0] > scores[1]


@pytest.mark.parametrize("name,options", [("fm", {"implicit": False}), ("two-tower", {"tower": [8, 4]}), ("triplet", {})])
def test_a_new_user_given_by_features_gets_the_vectors_of_a_user_with_those_features(name, options):
    rng = np.random.default_rng(1)
    train = Interactions(np.array([0, 1, 2]), np.array([0, 1, 2]), IdMap(np.arange(3)), IdMap(np.arange(3)))
    uf = random_features(3, 4, rng)
    model = build_model(name, 3, 3, factors=4, n_user_features=4, **options)
    model.fit_data(FitData(train, user_features=uf))
    with torch.no_grad():
        for table in ("user_emb", "user_bias"):  # ids carry nothing: features alone
            if hasattr(model, table):
                getattr(model, table).weight.zero_()
        known = model.score_all(Batch(torch.tensor([1])))
        bag = uf.bag(torch.tensor([1]))
        new = model.score_all(Batch(torch.tensor([-1]), user_features=FeatureBag(bag.indices, bag.offsets, bag.weights)))
    torch.testing.assert_close(new, known)


@pytest.mark.parametrize("side", ["user", "item"])
def test_id_dropout_drops_only_its_sides_ids_and_only_in_training(side):
    rng = np.random.default_rng(1)
    n = 40
    uf, itf = random_features(n, 5, rng), random_features(n, 6, rng)
    option = {"user": "user_id_dropout", "item": "id_dropout"}[side]
    torch.manual_seed(0)
    model = build_model("fm", n, n, factors=4, init_std=0.5, n_user_features=5, n_item_features=6, implicit=False, **{option: 0.9})
    model.fit_data(FitData(Interactions(np.arange(n), np.arange(n), IdMap(np.arange(n)), IdMap(np.arange(n))), user_features=uf,
                           item_features=itf))
    ids = torch.arange(n)
    with torch.no_grad():
        for dropping in ("user", "item"):
            model.eval()
            full = model._side(ids, None, user=dropping == "user").s
            model.train()
            trained = model._side(ids, None, user=dropping == "user").s
            id_v = (model.user_emb if dropping == "user" else model.item_emb)(ids)
            if dropping != side:
                assert torch.equal(trained, full)
                continue
            dropped = torch.isclose(trained, full - id_v, atol=1e-6).all(1)
            assert (dropped | torch.isclose(trained, full, atol=1e-6).all(1)).all()  # each row: its id dropped, or kept whole
            assert 0.75 * n <= int(dropped.sum()) < n
