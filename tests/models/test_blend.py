"""The ranking blend: standardised member scores, simplex weights chosen on validation only."""

from math import comb

import numpy as np
import pytest
import torch

from deeprecs.batch import Batch
from deeprecs.models.base import FitData
from deeprecs.data.dataset import Split
from deeprecs.data.interactions import Interactions
from deeprecs.models import build_model
from deeprecs.models.blending import CachedBlend, cold_items_last, fit_ranking_weights, simplex_grid, standardize
from deeprecs.pipeline import Context, TrainSpec
from deeprecs.training import History


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_simplex_grid_is_every_weight_vector_in_steps_of_a_tenth(k):
    grid = simplex_grid(k)
    assert grid.shape == (comb(10 + k - 1, k - 1), k)
    assert torch.allclose(grid.sum(1), torch.ones(len(grid)))
    assert (grid >= 0).all() and len({tuple(r) for r in grid.tolist()}) == len(grid)


def test_standardize_rows_and_constant_rows():
    s = torch.tensor([[1.0, 2.0, 3.0, 6.0], [5.0, 5.0, 5.0, 5.0]])
    z = standardize(s)
    assert torch.allclose(z[0].mean(), torch.tensor(0.0), atol=1e-6) and torch.allclose(z[0].std(), torch.tensor(1.0))
    assert torch.equal(z[1], torch.zeros(4))


def test_standardize_over_some_columns_ignores_the_others():
    s = torch.tensor([[1.0, 2.0, 3.0, -1000.0]])
    z = standardize(s, over=torch.tensor([True, True, True, False]))
    torch.testing.assert_close(z[0, :3], torch.tensor([-1.0, 0.0, 1.0]))  # the outlier changes nothing
    assert z[0, 3] < -100


def test_cold_items_go_below_every_warm_item():
    s = torch.tensor([[0.5, 9.0, -2.0], [3.0, -7.0, 1.0]])
    out = cold_items_last(s.clone(), torch.tensor([True, False, True]))
    torch.testing.assert_close(out[:, [0, 2]], s[:, [0, 2]])
    assert torch.all(out[:, 1] < out[:, [0, 2]].min(1).values)


def _blend_on(train: Interactions):
    model = build_model("blend", train.n_users, train.n_items, task="ranking", members=["popularity", "ease"],
                        member_options=[{}, {"l2": 1.0}])
    model.fit_data(FitData(train))
    return model


def _context(split: Split) -> Context:
    return Context.of(TrainSpec(model="blend", data="-", task="ranking"), split)


def _data(seed: int = 0):
    """Users in two taste groups over 12 items; items 0 and 6 are popular with everyone."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(40):
        block = np.arange(6) if u % 2 == 0 else np.arange(6, 12)
        for i in rng.choice(block, 4, replace=False):
            users.append(u), items.append(int(i))
    return np.array(users), np.array(items)


def test_cached_scores_equal_the_blends_own():
    users, items = _data()
    train = Interactions.from_raw(users, items)
    model = _blend_on(train)
    w = torch.tensor([0.3, 0.7])
    model.set_ranking_weights(w)
    some = np.array([0, 3, 7, 11])
    cached = CachedBlend(model, some)
    cached.weights = w
    with torch.no_grad():
        torch.testing.assert_close(cached.score_all(Batch(torch.tensor([7, 0]))), model.score_all(Batch(torch.tensor([7, 0]))))
        u, i = torch.tensor([3, 3, 11, 0]), torch.tensor([1, 5, 9, 0])
        torch.testing.assert_close(cached(Batch(u, i)), model(Batch(u, i)))


def test_weights_pick_the_member_that_ranks_validation_items_and_never_look_at_test():
    users, items = _data()
    everything = Interactions.from_raw(users, items)
    # validation: one more item of the user's own block; popularity knows nothing of blocks
    rng = np.random.default_rng(1)
    v_users, v_items = [], []
    seen = set(zip(users.tolist(), items.tolist()))
    for u in range(40):
        block = np.arange(6) if u % 2 == 0 else np.arange(6, 12)
        free = [int(i) for i in block if (u, int(i)) not in seen]
        v_users.append(u), v_items.append(int(rng.choice(free)))
    valid = everything.replace(users=np.array(v_users), items=np.array(v_items), ratings=None, timestamps=None)
    test = valid.replace(items=(valid.items + 6) % 12)  # the other block: a test-tuned blend would pick popularity
    model = _blend_on(everything)
    history = History()
    fit_ranking_weights(model, _context(Split(train=everything, test=test, valid=valid)), history)
    assert model.weights.tolist() == pytest.approx([0.0, 0.0, 1.0])  # all on EASE, which sees the blocks
    assert history.valid_metric == "valid_auc" and history.best_valid > 0.9


def test_a_blend_of_trained_runs_keeps_their_weights_and_only_fits_its_own(movielens_dir, tmp_path):
    from deeprecs.errors import ConfigError
    from deeprecs.pipeline import TrainSpec, train
    from deeprecs.runs import load_run

    base = dict(data=str(movielens_dir), split="holdout:2", positive=4.0, train_options={"epochs": 2, "threads": 1})
    ease = train(TrainSpec(model="ease", **base), out=tmp_path / "ease", progress=False)[0]
    bpr = train(TrainSpec(model="bpr-mf", model_options={"factors": 4}, **base), out=tmp_path / "bpr", progress=False)[0]
    blend, metrics, history, *_ = train(TrainSpec(model="blend", pretrain=[str(tmp_path / "ease"), str(tmp_path / "bpr")], **base),
                                        out=tmp_path / "blend", progress=False)
    assert history.epochs == [] and history.valid_metric == "valid_auc"  # nothing retrained
    assert torch.equal(blend.members[0].weights, ease.weights)
    assert torch.equal(blend.members[1].item_emb.weight, bpr.item_emb.weight)
    assert torch.allclose(blend.weights.sum(), torch.tensor(1.0))
    again = load_run(tmp_path / "blend").model  # a saved blend of runs loads on its own
    torch.testing.assert_close(again.score_all(Batch(torch.arange(3))), blend.score_all(Batch(torch.arange(3))))
    with pytest.raises(ConfigError, match="at least two runs"):
        train(TrainSpec(model="blend", pretrain=[str(tmp_path / "ease")], **base), progress=False)
    pair = [str(tmp_path / "ease"), str(tmp_path / "bpr")]
    linear = train(TrainSpec(model="blend", pretrain=pair, model_options={"combiner": "linear"}, **base), progress=False)[0]
    assert linear.config.combiner == "linear" and blend.config.combiner == "mlp"  # the blend's own option; mlp: the ranking default
    with pytest.raises(ConfigError, match="takes its members from the runs; drop factors"):  # from Python: the CLI knows no --factors for blend
        train(TrainSpec(model="blend", pretrain=pair, model_options={"factors": 8}, **base), progress=False)
    with pytest.raises(ConfigError, match="trained for 'ranking'"):
        train(TrainSpec(model="blend", pretrain=[str(tmp_path / "ease"), str(tmp_path / "bpr")], task="rating", **base), progress=False)
    # runs of another split of the same data (their train parts hold items held out here) are refused
    for other in ({"seed": 1}, {"positive": None}, {"split": "holdout:3"}):
        flag = "--" + next(iter(other))
        with pytest.raises(ConfigError, match=f"trained with {flag} .* this run has {flag} "):
            train(TrainSpec(model="blend", pretrain=[str(tmp_path / "ease"), str(tmp_path / "bpr")], **{**base, **other}), progress=False)


# ----------------------------------------------------------------------------- the mlp combiner
def _planted(rows: int, seed: int) -> torch.Tensor:
    """Features ``(rows, 20, 4)``: member a's score marks the held-out item (candidate 0) for
    active users, member b's for the others; the other member's score is noise. No fixed weight
    vector can follow that switch; a combiner that reads the activity can."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 20, 4, generator=g)
    active = torch.arange(rows) % 2 == 0
    x[:, :, 3] = torch.where(active, 1.0, -1.0)[:, None]  # the user's activity, the same for every candidate
    x[active, 0, 0] += 3.0
    x[~active, 0, 1] += 3.0
    return x


def _top1(scores: torch.Tensor) -> float:
    return float((scores.argmax(1) == 0).double().mean())


def test_the_combiner_learns_what_a_weight_vector_cannot():
    from deeprecs.models.blending import train_combiner

    train_x, test_x = _planted(2000, 0), _planted(1000, 1)
    net = train_combiner(train_x, hidden=16, seed=0)
    with torch.no_grad():
        learned = _top1(net(test_x).squeeze(-1))
    best_linear = max(_top1(w * test_x[:, :, 0] + (1 - w) * test_x[:, :, 1]) for w in simplex_grid(2)[:, 0].tolist())
    active = torch.arange(len(test_x)) % 2 == 0
    oracle = _top1(torch.where(active[:, None], test_x[:, :, 0], test_x[:, :, 1]))  # reads the right member for each user
    assert learned > oracle - 0.03 and learned > best_linear + 0.15
    again = train_combiner(train_x, hidden=16, seed=0)  # seeded, and the global random state is left alone
    torch.testing.assert_close(again(test_x), net(test_x))


def _mlp_blend(train: Interactions):
    model = build_model("blend", train.n_users, train.n_items, task="ranking", members=["popularity", "ease"],
                        member_options=[{}, {"l2": 1.0}], combiner="mlp", combiner_hidden=4)
    model.fit_data(FitData(train))
    return model


def test_the_combiner_scores_from_the_features_it_was_trained_on():
    users, items = _data()
    train = Interactions.from_raw(users, items)
    model = _mlp_blend(train)
    counts = np.bincount(users, minlength=train.n_users)
    torch.testing.assert_close(model.user_activity, torch.from_numpy(np.log1p(counts)).float())
    assert abs(float(model.item_pop.mean())) < 1e-6 and abs(float(model.item_pop.std()) - 1) < 1e-5
    model.use_combiner = torch.tensor(True)
    u = torch.tensor([0, 3, 3, 11])
    cand = torch.tensor([[0, 1, 7], [2, 5, 9], [2, 5, 9], [11, 0, 4]])
    with torch.no_grad():
        rows = [r.gather(1, cand) for r in model.member_scores(u)]
        by_features = model.combiner(model.combiner_features(u, rows, cand)).squeeze(-1)
        torch.testing.assert_close(model.score_all(Batch(u)).gather(1, cand), by_features)
        torch.testing.assert_close(model(Batch(u.repeat_interleave(3), cand.flatten())), by_features.flatten())
        model.use_combiner = torch.tensor(False)  # the linear weights again
        model.set_ranking_weights(torch.tensor([0.0, 1.0]))
        torch.testing.assert_close(model.score_all(Batch(u)), cold_items_last(model.member_scores(u)[1], model.warm))


def test_refit_and_reload_keep_the_combiner(tmp_path):
    from deeprecs.errors import ConfigError

    users, items = _data()
    train = Interactions.from_raw(users, items)
    model = _mlp_blend(train)
    model.use_combiner = torch.tensor(True)
    fresh = _mlp_blend(train)
    fresh.copy_fitted(model)
    assert bool(fresh.use_combiner)
    u = torch.arange(6)
    with torch.no_grad():
        torch.testing.assert_close(fresh.score_all(Batch(u)), model.score_all(Batch(u)))
    with pytest.raises(ConfigError, match="combiner mlp is for ranking"):
        build_model("blend", 4, 4, task="rating", members=["biased-mf", "autorec"], combiner="mlp")


def test_the_combiner_stays_out_where_it_does_not_beat_the_linear_blend():
    users, items = _data()
    everything = Interactions.from_raw(users, items)
    rng = np.random.default_rng(1)
    seen = set(zip(users.tolist(), items.tolist()))
    v_users, v_items = [], []
    for u in range(40):  # the held-out item: one more of the user's own block, which EASE ranks first
        block = np.arange(6) if u % 2 == 0 else np.arange(6, 12)
        v_users.append(u), v_items.append(int(rng.choice([int(i) for i in block if (u, int(i)) not in seen])))
    valid = everything.replace(users=np.array(v_users), items=np.array(v_items), ratings=None, timestamps=None)
    model = _mlp_blend(everything)
    negatives = np.stack([rng.choice([i for i in range(12) if (u, i) not in seen and i != v][:12], 4, replace=False)
                          for u, v in zip(v_users, v_items)])
    negatives = np.where(negatives // 6 == np.array(v_users)[:, None] % 2, (negatives + 6) % 12, negatives)  # the other block
    history = History()
    fit_ranking_weights(model, _context(Split(train=everything, test=valid, valid=valid, valid_negatives=negatives)), history)
    assert history.best_valid == pytest.approx(1.0)  # the linear blend ranks every held-out item first
    assert not bool(model.use_combiner)  # which no combiner can beat: the weights stay
