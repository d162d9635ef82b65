"""The ranking blend: standardised member scores, simplex weights chosen on validation only."""

from math import comb

import numpy as np
import pytest
import torch

from deeprecs.data.dataset import Split
from deeprecs.data.interactions import Interactions
from deeprecs.models import build_model
from deeprecs.models.blend import cold_items_last, simplex_grid, standardize
from deeprecs.pipeline import _CachedBlend, _fit_ranking_weights
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
    model.fit_extra(train)
    return model


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
    cached = _CachedBlend(model, some)
    cached.weights = w
    with torch.no_grad():
        torch.testing.assert_close(cached.score_all(torch.tensor([7, 0])), model.score_all(torch.tensor([7, 0])))
        u, i = torch.tensor([3, 3, 11, 0]), torch.tensor([1, 5, 9, 0])
        torch.testing.assert_close(cached(u, i), model(u, i))


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
    _fit_ranking_weights(model, Split(train=everything, test=test, valid=valid), history)
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
    torch.testing.assert_close(again.score_all(torch.arange(3)), blend.score_all(torch.arange(3)))
    with pytest.raises(ConfigError, match="at least two runs"):
        train(TrainSpec(model="blend", pretrain=[str(tmp_path / "ease")], **base), progress=False)
    with pytest.raises(ConfigError, match="trained for 'ranking'"):
        train(TrainSpec(model="blend", pretrain=[str(tmp_path / "ease"), str(tmp_path / "bpr")], task="rating", **base), progress=False)
    # runs of another split of the same data (their train parts hold items held out here) are refused
    for other in ({"seed": 1}, {"positive": None}, {"split": "holdout:3"}):
        flag = "--" + next(iter(other))
        with pytest.raises(ConfigError, match=f"trained with {flag} .* this run has {flag} "):
            train(TrainSpec(model="blend", pretrain=[str(tmp_path / "ease"), str(tmp_path / "bpr")], **{**base, **other}), progress=False)
