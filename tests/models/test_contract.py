"""The contract every model in ``MODELS`` keeps (see ``deeprecs.models.base``), run on each one.

Two halves: every model trained *through the pipeline* (``deeprecs.pipeline.train``, the blend
included) on data where ``n_users == n_items`` with a cold user and a cold item, on every device
this machine has, must score the same whichever way it is asked (``forward``, ``score_candidates``,
rows of ``score_all``, its retrieval vectors), forget only its cold rows, and load on the CPU; and
every model trained directly on a planted checkerboard must learn it and rank with the retrieval
layer as it scores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deeprecs.batch import Batch
from deeprecs.data.dataset import Dataset
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.devices import available_devices
from deeprecs.models import MODELS, build_model
from deeprecs.models.base import FitData
from deeprecs.pipeline import TrainSpec, forget_cold, train
from deeprecs.retrieval import topk
from deeprecs.runs import load_run, save_run
from deeprecs.training import TrainConfig, fit

SMALL = {
    "mf": {"factors": 8},
    "biased-mf": {"factors": 8},
    "bpr-mf": {"factors": 8},
    "warp-mf": {"factors": 8},
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
    "sasrec": {"factors": 8, "max_len": 8, "blocks": 1, "time_buckets": 16},
    "gru4rec": {"factors": 8, "max_len": 8},
    "fm": {"factors": 8},
    "deepfm": {"factors": 8, "layers": [16]},
    "hybrid-mf": {"factors": 8},
    "blend": {"members": ["biased-mf", "autorec"], "member_options": [{"factors": 8}, {"hidden": 16, "l2": 0.01}]},
}
#: options for one task only (a ranking blend has ranking members)
SMALL_FOR_TASK = {("blend", "ranking"): {"members": ["ease", "rp3beta", "bpr-mf", "als"],
                                         "member_options": [{"l2": 1.0}, {}, {"factors": 8}, {"factors": 8, "l2": 0.1}]}}

#: training-loop settings that learn the checkerboard (small data: many small steps)
TRAIN = {"epochs": 20, "batch_size": 16, "lr": 0.05, "threads": 1, "progress": False, "patience": 0}
#: pointwise log loss overfits at a high rate: the held-out item is sampled as a negative for its user
TRAIN_OVERRIDES: dict[str, dict] = {"gmf": {"lr": 0.02}, "neumf": {"lr": 0.02}, "two-tower": {"lr": 0.02}, "autorec": {"batch_size": 4}}

CASES = [(name, task) for name, cls in MODELS.items() for task in cls.tasks]
DEVICES = [pytest.param(d, marks=pytest.mark.skipif(all(a.type != d for a in available_devices()), reason=f"no {d} device here"))
           for d in ("cpu", "cuda", "mps")]


def small(name: str, task: str) -> dict:
    return SMALL_FOR_TASK.get((name, task), SMALL.get(name, {}))


def test_every_model_has_small_sizes():
    missing = set(MODELS) - set(SMALL)
    assert not missing, f"add small options for {missing} to SMALL (the defaults make this suite slow)"


# ------------------------------------------------------------------ through the pipeline, on every device
N = 16
COLD_USER, COLD_ITEM = 3, 12  # different indices, so that a user table is never told from an item table by its length


@pytest.fixture(scope="module")
def square() -> Dataset:
    """16 users x 16 items (two taste blocks, ratings 5 in block and 1 out of it, timestamps); the
    latest rows are every pair of user 3 and of item 12, so ``temporal:0.25`` leaves both cold in
    train."""
    users, items = (a.ravel() for a in np.meshgrid(np.arange(N), np.arange(N), indexing="ij"))
    keep = (users + items) % 3 != 0  # not every pair: something to predict
    keep |= (users == COLD_USER) | (items == COLD_ITEM)
    users, items = users[keep], items[keep]
    ratings = np.where((users < N // 2) == (items < N // 2), 5.0, 1.0)
    late = (users == COLD_USER) | (items == COLD_ITEM)
    times = np.where(late, 10_000 + np.arange(len(users)), np.random.default_rng(0).permutation(len(users)))
    inter = Interactions(users, items, IdMap(np.arange(N), kind="user"), IdMap(np.arange(N), kind="item"), ratings, times)
    return Dataset(name="square", interactions=inter, rating_values=np.arange(1.0, 6.0))


@pytest.fixture(scope="module")
def piped(square, tmp_path_factory):
    """``(name, task, device) -> (model, run directory)``, trained through the pipeline once."""
    cache = {}

    def get(name: str, task: str, device: str):
        if (name, task, device) not in cache:
            out = tmp_path_factory.mktemp("runs") / f"{name}-{task}"
            spec = TrainSpec(model=name, data="square", split="temporal:0.25", task=task, positive=4 if task == "ranking" else None,
                             model_options=small(name, task), device=device,
                             train_options={"epochs": 3, "batch_size": 16, "lr": 0.02, "threads": 1, "patience": 0})
            model, *_ = train(spec, out=out, progress=False, dataset=square)
            cache[name, task, device] = model, out
        return cache[name, task, device]

    return get


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,task", CASES)
def test_forward_candidates_score_all_and_vectors_agree(name, task, device, piped):
    model, _ = piped(name, task, device)
    dev = torch.device(device)
    assert model.device.type == dev.type
    users = torch.arange(N, device=dev)
    pairs_u, pairs_i = users.repeat_interleave(N), torch.arange(N, device=dev).repeat(N)
    with torch.no_grad():
        full = model.score_all(Batch(users))
        assert full.shape == (N, N) and full.device.type == dev.type and torch.isfinite(full).all()
        torch.testing.assert_close(model(Batch(pairs_u, pairs_i)).view(N, N), full, rtol=1e-5, atol=1e-5)
        cand = torch.stack([torch.randperm(N, generator=torch.Generator().manual_seed(u))[:5] for u in range(N)]).to(dev)
        torch.testing.assert_close(model.score_candidates(Batch(users, cand)), full.gather(1, cand), rtol=1e-5, atol=1e-5)
        vectors = model.retrieval_vectors()
        if vectors is not None:
            u, v = vectors
            torch.testing.assert_close(u @ v.T + model.score_constant(), full, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(model.query_vectors(Batch(users[:5])), u[:5], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,task", CASES)
def test_forget_cold_touches_only_the_cold_rows(name, task, device, piped, square):
    """n_users == n_items: forgetting user 3 and item 12 changes no warm user's score of a warm item."""
    model, run = piped(name, task, device)
    train_part = load_run(run).train
    assert train_part.user_counts()[COLD_USER] == 0 and train_part.item_counts()[COLD_ITEM] == 0
    warm_u = torch.tensor([u for u in range(N) if u != COLD_USER])
    warm_i = torch.tensor([i for i in range(N) if i != COLD_ITEM])
    with torch.no_grad():
        before = model.score_all(Batch(warm_u.to(model.device))).cpu()
        forget_cold(model, train_part, task)  # done once by the pipeline: again, it must change nothing warm
        after = model.score_all(Batch(warm_u.to(model.device))).cpu()
    torch.testing.assert_close(after[:, warm_i], before[:, warm_i], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,task", CASES)
def test_a_run_loads_on_the_cpu_and_scores_as_it_was_trained(name, task, device, piped):
    model, run = piped(name, task, device)
    loaded = load_run(run, device="cpu")
    state = torch.load(run / "model.pt", weights_only=True)
    assert all(t.device.type == "cpu" for t in state.values())
    users = torch.arange(N)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.score_all(Batch(users)), model.score_all(Batch(users.to(model.device))).cpu(),
                                   rtol=1e-5, atol=1e-5)


def test_every_model_declares_which_tables_are_indexed_by_user_and_by_item():
    """No table is told by its length: each model names its id-indexed tables, and they exist."""
    for name, cls in MODELS.items():
        model = build_model(name, 5, 5, **small(name, cls.tasks[-1]))
        for table in (*cls.user_tables, *cls.item_tables):
            assert hasattr(model, table) or table.endswith("_bias"), f"{name} declares a table {table} it does not have"
        rows = [getattr(model, t) for t in cls.user_tables + cls.item_tables if getattr(model, t, None) is not None]
        sizes = [(r.weight if isinstance(r, torch.nn.Embedding) else r).shape[0] for r in rows]
        assert all(s == 5 for s in sizes)


# ------------------------------------------------------------------ trained directly on the checkerboard
def timed(name: str, data):
    """A model that reads histories orders each user's items by time: the checkerboard's rows at
    seeded random times (after any item of a block comes another of the same block)."""
    if "history" in MODELS[name].inputs and data.timestamps is None:
        return data.replace(timestamps=np.random.default_rng(0).permutation(len(data)))
    return data


def make(name: str, train, task: str = "") -> torch.nn.Module:
    train = timed(name, train)
    model = build_model(name, train.n_users, train.n_items, **small(name, task))
    model.fit_data(FitData(train))
    return model


def train_on(name: str, task: str, board, seed: int = 0):
    data = board.rating if task == "rating" else board.ranking
    torch.manual_seed(seed)  # the initial weights
    model = make(name, data, task)
    cfg = TrainConfig(**{**TRAIN, **TRAIN_OVERRIDES.get(name, {}), "seed": seed, "loss": MODELS[name].default_loss[task]})
    job = model.make_task(task, FitData(timed(name, data)), cfg)
    if job is not None:
        fit(model, job, cfg)
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


@pytest.mark.parametrize("name", list(MODELS))
def test_score_all_equals_forward_with_cold_users_and_items(name, checkerboard):
    data = checkerboard.rating
    data = data.subset((data.items != 5) & (data.users != 2))  # item 5, user 2: no training data
    task = MODELS[name].tasks[-1]
    model = make(name, data, task).eval()
    users, items = all_pairs(data.n_users, data.n_items)
    with torch.no_grad():
        full = model.score_all(Batch(torch.arange(data.n_users)))
        torch.testing.assert_close(full, model(Batch(users, items)).view(data.n_users, data.n_items), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_n_parameters(name, checkerboard):
    model = make(name, checkerboard.ranking, MODELS[name].tasks[-1])
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
        assert torch.equal(run.model.score_all(Batch(users)), model.score_all(Batch(users)))
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
        full = model.score_all(Batch(torch.from_numpy(users))).numpy()
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


#: popularity knows no blocks; WARP trains on each positive's first violator, and among 16 items the
#: held-out in-block item (never a positive) is the likeliest one, so it learns to push it down
NOT_ON_THE_BOARD = ("popularity", "warp-mf")


@pytest.mark.parametrize("name,task", [c for c in CASES if c[0] not in NOT_ON_THE_BOARD])
def test_learns_the_checkerboard(name, task, trained, checkerboard):
    model, _ = trained(name, task)
    with torch.no_grad():
        scores = model.score_all(Batch(torch.arange(len(checkerboard.held_out)))).numpy()
    for u, held in enumerate(checkerboard.held_out):
        if task == "ranking":
            others = scores[u, checkerboard.other_block(u)]
            assert scores[u, held] > others.max(), f"user {u}: held-out item {held} not above the other block"
        else:
            bad = checkerboard.held_out_bad[u]
            assert scores[u, held] > scores[u, bad] + 1.0, f"user {u}: in-block {scores[u, held]:.2f} vs out {scores[u, bad]:.2f}"


def test_popularity_ranks_by_training_count(checkerboard):
    train_part = checkerboard.ranking.subset(checkerboard.ranking.items != 3)  # item 3: never seen
    model = make("popularity", train_part)
    scores = model.score_all(Batch(torch.arange(2)))
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
    assert not torch.equal(a.score_all(Batch(torch.arange(3))), c.score_all(Batch(torch.arange(3))))
