"""The contract every model in ``MODELS`` keeps (see ``deeprecs.models.base``), run on each one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deeprecs.models import MODELS, build_model
from deeprecs.retrieval import topk
from deeprecs.runs import load_run, save_run
from deeprecs.training import RankingTask, RatingTask, TrainConfig, fit

SMALL = {
    "mf": {"factors": 8},
    "biased-mf": {"factors": 8},
    "nnmf": {"factors": 8},
    "svdpp": {"factors": 8},
    "mlp": {"user_factors": 8, "item_factors": 8, "layers": [16, 8]},
    "two-tower": {"factors": 8, "tower": [16, 8]},
    "triplet": {"factors": 8},
    "deep-triplet": {"user_factors": 8, "item_factors": 8, "hidden_size": 16},
    "gmf": {"factors": 8},
    "neumf": {"factors": 8, "mlp_factors": 8, "layers": [16, 8]},
    "popularity": {},
    "ease": {"l2": 1.0},
    "rp3beta": {},
    "als": {"factors": 8, "l2": 0.1, "alpha": 5.0},
    "autorec": {"hidden": 16, "l2": 0.01},
    "blend": {"members": ["biased-mf", "autorec"], "member_options": [{"factors": 8}, {"hidden": 16, "l2": 0.01}]},
}
#: options for one task only (a ranking blend has ranking members)
SMALL_FOR_TASK = {("blend", "ranking"): {"task": "ranking", "members": ["ease", "rp3beta"], "member_options": [{"l2": 1.0}, {}]}}

#: training-loop settings that learn the checkerboard (small data: many small steps)
TRAIN = {"epochs": 20, "batch_size": 16, "lr": 0.05, "threads": 1, "progress": False, "patience": 0}
#: pointwise log loss overfits at a high rate: the held-out item is sampled as a negative for its user
TRAIN_OVERRIDES: dict[str, dict] = {"gmf": {"lr": 0.02}, "neumf": {"lr": 0.02}, "two-tower": {"lr": 0.02}, "autorec": {"batch_size": 4}}

CASES = [(name, task) for name, cls in MODELS.items() for task in cls.tasks]


def test_every_model_has_small_sizes():
    missing = set(MODELS) - set(SMALL)
    assert not missing, f"add small options for {missing} to SMALL (the defaults make this suite slow)"


def make(name: str, train, task: str = "") -> torch.nn.Module:
    model = build_model(name, train.n_users, train.n_items, **SMALL_FOR_TASK.get((name, task), SMALL.get(name, {})))
    model.fit_extra(train)
    return model


def train_on(name: str, task: str, board, seed: int = 0):
    data = board.rating if task == "rating" else board.ranking
    torch.manual_seed(seed)  # the initial weights
    model = make(name, data, task)
    loss = MODELS[name].default_loss[task]
    cfg = TrainConfig(**{**TRAIN, **TRAIN_OVERRIDES.get(name, {}), "seed": seed, "loss": loss})
    if hasattr(model, "make_task"):  # a model with its own batching (AutoRec: item rows)
        fit(model, model.make_task(data, cfg), cfg)
    elif task == "rating":
        fit(model, RatingTask(data), cfg)
    elif loss != "none":
        fit(model, RankingTask(data, cfg), cfg)
    model.eval()
    return model, data


@pytest.fixture(scope="module")
def trained(checkerboard):
    """``(name, task) -> (model, train data)``, trained once per module."""
    board, cache = checkerboard, {}

    def get(name: str, task: str):
        if (name, task) not in cache:
            cache[name, task] = train_on(name, task, board)
        return cache[name, task]

    return get


def all_pairs(n_users: int, n_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    users = torch.arange(n_users).repeat_interleave(n_items)
    items = torch.arange(n_items).repeat(n_users)
    return users, items


@pytest.mark.parametrize("name,task", CASES)
def test_scores_agree_across_forward_score_all_and_vectors(name, task, trained):
    model, data = trained(name, task)
    with torch.no_grad():
        users, items = all_pairs(data.n_users, data.n_items)
        pair = model(users[:5], items[:5])
        assert pair.shape == (5,) and torch.isfinite(pair).all()
        full = model.score_all(torch.arange(data.n_users))
        assert full.shape == (data.n_users, data.n_items)
        torch.testing.assert_close(full, model(users, items).view(data.n_users, data.n_items), rtol=1e-5, atol=1e-5)
        vectors = model.retrieval_vectors()
        if vectors is not None:
            u, v = vectors
            torch.testing.assert_close(u @ v.T + model.score_constant(), full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_score_all_equals_forward_with_cold_users_and_items(name, checkerboard):
    data = checkerboard.rating
    data = data.subset((data.items != 5) & (data.users != 2))  # item 5, user 2: no training data
    model = make(name, data).eval()
    users, items = all_pairs(data.n_users, data.n_items)
    with torch.no_grad():
        full = model.score_all(torch.arange(data.n_users))
        torch.testing.assert_close(full, model(users, items).view(data.n_users, data.n_items), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_n_parameters(name, checkerboard):
    model = make(name, checkerboard.ranking)
    if name == "popularity":
        assert model.n_parameters() == 0
    else:
        assert model.n_parameters() > 0


@pytest.mark.parametrize("name,task", CASES)
def test_save_load_round_trip_without_pickle(name, task, trained, tmp_path):
    model, data = trained(name, task)
    config = {"model": name, "task": task}
    run_dir = save_run(tmp_path / "run", model, config, data)
    state = torch.load(run_dir / "model.pt", weights_only=True)
    assert all(isinstance(t, torch.Tensor) for t in state.values())
    run = load_run(run_dir)
    users = torch.arange(data.n_users)
    with torch.no_grad():
        assert torch.equal(run.model.score_all(users), model.score_all(users))
    assert run.user_map == data.user_map and run.item_map == data.item_map
    np.testing.assert_array_equal(run.train.users, data.users)


@pytest.mark.parametrize("name,task", CASES)
def test_batched_topk_equals_single_user_topk_and_excludes_seen(name, task, trained):
    model, data = trained(name, task)
    seen = data.tocsr()
    users = np.arange(data.n_users)
    k = 5
    items, scores = topk(model, users, k, exclude=seen, batch_size=3)
    assert items.shape == scores.shape == (data.n_users, k)
    with torch.no_grad():
        full = model.score_all(torch.from_numpy(users)).numpy()
    for u in users:
        one_items, one_scores = topk(model, [u], k, exclude=seen)
        np.testing.assert_array_equal(one_items[0] >= 0, items[u] >= 0)  # -1 pads where too few remain
        kept = items[u] >= 0
        assert kept.sum() == min(k, data.n_items - seen[u].nnz)
        np.testing.assert_allclose(one_scores[0][kept], scores[u][kept], rtol=1e-5, atol=1e-6)
        # same list up to ties: each pick scores what the other list says at that rank
        np.testing.assert_allclose(full[u, one_items[0][kept]], scores[u][kept], rtol=1e-5, atol=1e-6)
        assert not set(items[u][kept]) & set(seen[u].indices), f"user {u} was recommended a seen item"
        assert np.all(np.diff(scores[u][kept]) <= 1e-6), "best first"


def test_topk_pads_with_minus_one_when_too_few_items_remain(trained):
    model, data = trained("mf", "ranking")
    seen = data.tocsr()
    items, scores = topk(model, [0], data.n_items, exclude=seen)
    n_free = data.n_items - seen[0].nnz
    assert (items[0, n_free:] == -1).all() and np.isneginf(scores[0, n_free:]).all()
    assert (items[0, :n_free] >= 0).all()


@pytest.mark.parametrize("name,task", [c for c in CASES if c[0] != "popularity"])
def test_learns_the_checkerboard(name, task, trained, checkerboard):
    model, _ = trained(name, task)
    with torch.no_grad():
        scores = model.score_all(torch.arange(len(checkerboard.held_out))).numpy()
    for u, held in enumerate(checkerboard.held_out):
        if task == "ranking":
            others = scores[u, checkerboard.other_block(u)]
            assert scores[u, held] > others.max(), f"user {u}: held-out item {held} not above the other block"
        else:
            bad = checkerboard.held_out_bad[u]
            assert scores[u, held] > scores[u, bad] + 1.0, f"user {u}: in-block {scores[u, held]:.2f} vs out {scores[u, bad]:.2f}"


def test_popularity_ranks_by_training_count(checkerboard):
    train = checkerboard.ranking.subset(checkerboard.ranking.items != 3)  # item 3: never seen
    model = make("popularity", train)
    scores = model.score_all(torch.arange(2))
    assert torch.equal(scores[0], scores[1])
    assert scores[0, 3] == 0 and (scores[0, torch.arange(16) != 3] > 0).all()


def test_nnmf_embeddings_stay_non_negative(trained):
    for task in ("rating", "ranking"):
        model, _ = trained("nnmf", task)
        assert (model.user_emb.weight >= 0).all() and (model.item_emb.weight >= 0).all()


def test_triplet_ranks_the_held_out_item_first(trained, checkerboard):
    model, data = trained("triplet", "ranking")
    items, _ = topk(model, np.arange(data.n_users), 1, exclude=data.tocsr())
    np.testing.assert_array_equal(items[:, 0], checkerboard.held_out)


@pytest.mark.parametrize("name", ["svdpp", "neumf"])
def test_same_seed_same_model(name, checkerboard, monkeypatch):
    monkeypatch.setitem(TRAIN_OVERRIDES, name, {"epochs": 2})
    task = MODELS[name].tasks[-1]
    a, _ = train_on(name, task, checkerboard, seed=3)
    b, _ = train_on(name, task, checkerboard, seed=3)
    c, _ = train_on(name, task, checkerboard, seed=4)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    assert not torch.equal(a.score_all(torch.arange(3)), c.score_all(torch.arange(3)))
