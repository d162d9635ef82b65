"""Implicit ALS: the batched conjugate-gradient solve against an exact per-row solve, and fitting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deeprecs.batch import Batch
from deeprecs.models.base import FitData
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.models import build_model
from deeprecs.models.als import ALS, pair_weights, pattern, solve_cg


def exact_rows(y: torch.Tensor, observed: list[list[int]], alpha: float, l2: float, weights: list[list[float]] | None = None) -> torch.Tensor:
    """The slow, obvious solve: each row's weighted ridge system written out cell by cell."""
    n_cols, d = y.shape
    out = []
    for r, cols in enumerate(observed):
        c = torch.ones(n_cols, dtype=torch.float64)  # confidence of every cell
        p = torch.zeros(n_cols, dtype=torch.float64)  # preference of every cell
        c[cols] += alpha * (torch.tensor(weights[r], dtype=torch.float64) if weights else 1.0)
        p[cols] = 1.0
        a = (y.T * c) @ y + l2 * torch.eye(d, dtype=torch.float64)
        out.append(torch.linalg.solve(a, (y.T * c) @ p))
    return torch.stack(out)


def cg(x: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, alpha: float, l2: float, steps: int) -> None:
    """solve_cg for pairs of confidence weights ``weights`` (CSR): extra confidence alpha w, target 1 + alpha w."""
    crow, col, w = weights.crow_indices(), weights.col_indices(), weights.values()
    conf = torch.sparse_csr_tensor(crow, col, alpha * w, weights.shape)
    target = torch.sparse_csr_tensor(crow, col, 1 + alpha * w, weights.shape)
    solve_cg(x, y, conf, target, l2=l2, steps=steps)


def test_cg_converges_to_the_exact_least_squares_solution():
    rng = np.random.default_rng(0)
    n, m, d = 6, 9, 4
    observed = [sorted(rng.choice(m, size=rng.integers(0, 5), replace=False).tolist()) for _ in range(n)]
    rows = np.array([r for r, cols in enumerate(observed) for _ in cols], dtype=np.int64)
    cols = np.array([c for cs in observed for c in cs], dtype=np.int64)
    y = torch.from_numpy(rng.normal(size=(m, d)))
    x = torch.zeros(n, d, dtype=torch.float64)
    csr = pattern(rows, cols, n, m)
    csr = torch.sparse_csr_tensor(csr.crow_indices(), csr.col_indices(), csr.values().double(), csr.shape)
    cg(x, y, csr, alpha=3.0, l2=0.5, steps=d)  # CG is exact after d steps (up to rounding)
    expected = exact_rows(y, observed, alpha=3.0, l2=0.5)
    torch.testing.assert_close(x, expected, rtol=1e-6, atol=1e-8)
    assert torch.all(x[[r for r, cs in enumerate(observed) if not cs]] == 0)  # no data: the ridge gives 0


def test_weighted_cg_converges_to_the_exact_weighted_solution():
    rng = np.random.default_rng(2)
    n, m, d = 7, 10, 4
    observed = [sorted(rng.choice(m, size=rng.integers(0, 6), replace=False).tolist()) for _ in range(n)]
    weights = [rng.uniform(1, 30, size=len(cols)).tolist() for cols in observed]
    rows = np.array([r for r, cols in enumerate(observed) for _ in cols], dtype=np.int64)
    cols = np.array([c for cs in observed for c in cs], dtype=np.int64)
    y = torch.from_numpy(rng.normal(size=(m, d)))
    csr = pattern(rows, cols, n, m, np.array([w for ws in weights for w in ws]))
    csr = torch.sparse_csr_tensor(csr.crow_indices(), csr.col_indices(), csr.values().double(), csr.shape)
    x = torch.zeros(n, d, dtype=torch.float64)
    cg(x, y, csr, alpha=3.0, l2=0.5, steps=d)
    # float32 weights in the pattern: compare against the same rounding
    expected = exact_rows(y, observed, 3.0, 0.5, [np.float32(ws).astype(np.float64).tolist() for ws in weights])
    torch.testing.assert_close(x, expected, rtol=1e-5, atol=1e-7)


def test_pair_weights_by_recency_rank():
    maps = {"user_map": IdMap(np.arange(2)), "item_map": IdMap(np.arange(5))}
    # user 0: item 3 (t=1), item 1 (t=5), item 4 (t=5, ties go to the larger item: later), item 3 again (t=9)
    # user 1: item 0 (t=2), item 2 (t=1)
    inter = Interactions(users=np.array([0, 0, 0, 1, 0, 1]), items=np.array([3, 1, 4, 0, 3, 2]),
                         timestamps=np.array([1, 5, 5, 2, 9, 1]), **maps)
    pairs, w = pair_weights(inter, 5, recency=10.0, scale=2.0)
    assert pairs.tolist() == [1, 3, 4, 5, 7]  # (0,1), (0,3), (0,4), (1,0), (1,2): one per pair
    later = [2, 0, 1, 0, 1]  # (0,3) is user 0's latest (t=9), then (0,4), then (0,1)
    np.testing.assert_allclose(w, [1 + 10 * np.exp(-r / 2.0) for r in later])
    assert pair_weights(inter, 5, recency=0.0, scale=2.0)[1] is None
    untimed = Interactions(users=inter.users, items=inter.items, **maps)
    assert pair_weights(untimed, 5, recency=10.0, scale=2.0)[1] is None  # no timestamps: no effect
    from deeprecs.data.dataset import Split
    from deeprecs.pipeline import Context, TrainSpec

    def grid(split: Split) -> dict:
        return ALS.validation_grid(Context.of(TrainSpec(model="als", data="-"), split).setting())

    assert grid(Split(train=inter, test=inter, spec="loo")) == ALS.next_item_grid
    assert "recency" in ALS.next_item_grid
    assert grid(Split(train=untimed, test=untimed, spec="loo")) == ALS.grid  # no timestamps
    assert grid(Split(train=inter, test=inter, spec="canonical:ua")) == ALS.grid  # not the latest
    assert "recency" not in ALS.grid
    assert grid(Split(train=inter, test=inter, spec="canonical:ua", dislikes=inter)) == {**ALS.grid, "dislike_weight": (0.25, 0.0, 0.5)}


def test_recency_fit_equals_the_slow_dense_weighted_als():
    # every cell written out: confidence 1 + alpha w on observed pairs (w from recency), 1 elsewhere;
    # exact alternating solves from the same start. With cg_steps = d each CG solve is exact too.
    rng = np.random.default_rng(0)
    n, m, d, alpha, l2 = 9, 12, 3, 2.0, 0.5
    users, items = rng.integers(0, n, 40), rng.integers(0, m, 40)
    inter = Interactions(users=users, items=items, timestamps=rng.integers(0, 6, 40),
                         user_map=IdMap(np.arange(n)), item_map=IdMap(np.arange(m)))
    als = build_model("als", n, m, factors=d, l2=l2, alpha=alpha, iterations=6, cg_steps=d)
    x, y = als.user_factors.detach().double().numpy().copy(), als.item_factors.detach().double().numpy().copy()
    als.fit_data(FitData(inter, recency=20.0, recency_scale=2.0))
    pairs, w = pair_weights(inter, m, 20.0, 2.0)
    c, p = np.ones((n, m)), np.zeros((n, m))
    c[pairs // m, pairs % m] += alpha * w
    p[pairs // m, pairs % m] = 1.0
    for _ in range(6):
        x = np.stack([np.linalg.solve((y.T * c[u]) @ y + l2 * np.eye(d), (y.T * c[u]) @ p[u]) for u in range(n)])
        y = np.stack([np.linalg.solve((x.T * c[:, i]) @ x + l2 * np.eye(d), (x.T * c[:, i]) @ p[:, i]) for i in range(m)])
    np.testing.assert_allclose(als.score_all(Batch(torch.arange(n))).numpy(), x @ y.T, atol=2e-3)
    plain = build_model("als", n, m, factors=d, l2=l2, alpha=alpha, iterations=6, cg_steps=d)
    plain.fit_data(FitData(inter))
    assert not torch.allclose(plain.user_factors, als.user_factors, atol=1e-2)  # the weights changed the fit


def test_dislikes_count_as_watched_pairs_with_their_weight():
    # the dense reference: positives c = 1 + alpha, dislikes c = 1 + alpha * dislike_weight, both p = 1
    rng = np.random.default_rng(3)
    n, m, d, alpha, l2, dw = 8, 11, 3, 4.0, 0.5, 0.25
    cells = rng.permutation(n * m)[:40]
    pos, neg = cells[:25], cells[25:]
    maps = {"user_map": IdMap(np.arange(n)), "item_map": IdMap(np.arange(m))}
    train = Interactions(users=pos // m, items=pos % m, **maps)
    dislikes = Interactions(users=np.r_[neg // m, pos[:2] // m], items=np.r_[neg % m, pos[:2] % m], **maps)  # 2 also positive: stay positive
    als = build_model("als", n, m, factors=d, l2=l2, alpha=alpha, iterations=5, cg_steps=d, dislike_weight=dw)
    x, y = als.user_factors.detach().double().numpy().copy(), als.item_factors.detach().double().numpy().copy()
    als.fit_data(FitData(train, dislikes))
    c, p = np.ones((n, m)), np.zeros((n, m))
    c[pos // m, pos % m] += alpha
    c[neg // m, neg % m] += alpha * dw
    p[pos // m, pos % m] = p[neg // m, neg % m] = 1.0
    for _ in range(5):
        x = np.stack([np.linalg.solve((y.T * c[u]) @ y + l2 * np.eye(d), (y.T * c[u]) @ p[u]) for u in range(n)])
        y = np.stack([np.linalg.solve((x.T * c[:, i]) @ x + l2 * np.eye(d), (x.T * c[:, i]) @ p[:, i]) for i in range(m)])
    np.testing.assert_allclose(als.score_all(Batch(torch.arange(n))).numpy(), x @ y.T, atol=2e-3)
    ignored = build_model("als", n, m, factors=d, l2=l2, alpha=alpha, iterations=5, cg_steps=d, dislike_weight=0.0)
    ignored.fit_data(FitData(train, dislikes))
    plain = build_model("als", n, m, factors=d, l2=l2, alpha=alpha, iterations=5, cg_steps=d)
    plain.fit_data(FitData(train))
    torch.testing.assert_close(ignored.user_factors, plain.user_factors)  # weight 0: as without them


def test_a_few_warm_started_steps_get_close():
    rng = np.random.default_rng(1)
    n, m, d = 30, 40, 8
    dense = rng.random((n, m)) < 0.2
    rows, cols = np.nonzero(dense)
    y = torch.from_numpy(rng.normal(size=(m, d)))
    csr = pattern(rows, cols, n, m)
    csr = torch.sparse_csr_tensor(csr.crow_indices(), csr.col_indices(), csr.values().double(), csr.shape)
    expected = exact_rows(y, [np.nonzero(r)[0].tolist() for r in dense], alpha=10.0, l2=1.0)
    x = torch.zeros(n, d, dtype=torch.float64)
    errors = []
    for _ in range(4):  # warm starts: each call continues from the last
        cg(x, y, csr, alpha=10.0, l2=1.0, steps=3)
        errors.append(float((x - expected).abs().max()))
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.05 * errors[0]


def test_duplicates_count_once_and_fitting_ranks_the_planted_block_first():
    # two user groups, two item groups: group g likes items of group g
    users = np.repeat(np.arange(8), 4)
    items = np.array([(u % 2) * 6 + k for u in range(8) for k in (0, 1, 2, u % 3 + 3)])
    maps = {"user_map": IdMap(np.arange(8)), "item_map": IdMap(np.arange(12))}
    inter = Interactions(users=users, items=items, **maps)
    doubled = Interactions(users=np.r_[users, users], items=np.r_[items, items], **maps)
    a = build_model("als", 8, 12, factors=2, l2=1.0, alpha=5.0, iterations=10)
    b = build_model("als", 8, 12, factors=2, l2=1.0, alpha=5.0, iterations=10)
    a.fit_data(FitData(inter))
    b.fit_data(FitData(doubled))
    torch.testing.assert_close(a.user_factors, b.user_factors)
    scores = a.score_all(Batch(torch.arange(8)))
    for u in range(8):
        own = torch.arange(6) + (u % 2) * 6
        other = torch.arange(6) + (1 - u % 2) * 6
        assert scores[u, own].min() > scores[u, other].max()
    assert not a.user_factors.requires_grad  # fitted in closed form, never by the training loop


def _planted():
    users = np.repeat(np.arange(8), 4)
    items = np.array([(u % 2) * 6 + k for u in range(8) for k in (0, 1, 2, u % 3 + 3)])
    return Interactions(users=users, items=items, user_map=IdMap(np.arange(8)), item_map=IdMap(np.arange(12)))


def test_alpha_is_chosen_on_validation_unless_given(monkeypatch):
    import deeprecs.pipeline as pipeline
    import deeprecs.pipeline.scoring as scoring
    from deeprecs.data.dataset import Split

    seen = []

    def fake_validator(task, train, valid, valid_neg, rating_values, dislikes=None, cold_candidates=False):
        def validate(model):
            seen.append(model.config.alpha)
            assert model.user_factors.abs().sum() > 0  # scored after fitting
            return -abs(model.config.alpha - 20.0)
        return validate, "valid_auc", True

    monkeypatch.setattr(scoring, "validator", fake_validator)
    data = _planted()
    split = Split(train=data, test=data, valid=data)
    spec = pipeline.TrainSpec(model="als", data="-", model_options={"factors": 2})
    model = pipeline.setup(pipeline.Context.of(spec, split))
    assert sorted(seen) == [10.0, 20.0, 40.0] and model.config.alpha == 20.0
    reference = build_model("als", 8, 12, factors=2, alpha=20.0)
    reference.fit_data(FitData(data))
    torch.testing.assert_close(model.user_factors, reference.user_factors)  # the chosen model, fitted as usual

    seen.clear()
    given = pipeline.setup(pipeline.Context.of(pipeline.TrainSpec(model="als", data="-", model_options={"factors": 2, "alpha": 40.0}), split))
    assert seen == [] and given.config.alpha == 40.0  # an explicit option is never overridden


@pytest.mark.parametrize("name", ["deep-triplet", "mlp"])
def test_models_start_from_als_vectors_scaled_to_the_asked_norm(checkerboard, name):
    from deeprecs.errors import ConfigError

    train = checkerboard.ranking
    als = build_model("als", train.n_users, train.n_items, factors=4)
    als.fit_data(FitData(train))
    deep = build_model(name, train.n_users, train.n_items, user_factors=4, item_factors=4, init="als", init_norm=3.0)
    deep.fit_data(FitData(train))
    users, items = als.retrieval_vectors()
    scale = 3.0 / users.norm(dim=1).mean()
    torch.testing.assert_close(deep.user_emb.weight, users * scale)
    torch.testing.assert_close(deep.item_emb.weight, items * scale)
    assert deep.user_emb.weight.norm(dim=1).mean().item() == pytest.approx(3.0)
    rand = build_model(name, train.n_users, train.n_items, user_factors=4, item_factors=4, init="random")
    before = rand.user_emb.weight.clone()
    rand.fit_data(FitData(train))
    assert torch.equal(rand.user_emb.weight, before)  # init random: fit_data leaves the embeddings alone
    with pytest.raises(ConfigError, match="init 'als' needs user_factors == item_factors .* or --init random"):
        build_model(name, 5, 7, user_factors=6, item_factors=4, init="als")


def test_defaults_start_from_als_where_it_was_measured_to_help():
    from deeprecs.models import get_model_class

    assert build_model("deep-triplet", 5, 7).config.init == "als"
    assert build_model("mlp", 5, 7).config.init == "random"  # ratings: the default
    assert get_model_class("mlp").model_defaults["ranking"]["init"] == "als"
    assert "init" not in get_model_class("mlp").model_defaults["rating"]
    assert get_model_class("neumf").model_defaults["ranking"]["init"] == "als"


def test_neumf_starts_both_branches_from_als(checkerboard):
    train = checkerboard.ranking
    n, m = train.n_users, train.n_items
    neumf = build_model("neumf", n, m, factors=6, mlp_factors=4, layers=[8, 4], init="als", init_norm=3.0, init_gmf=5.0,
                        init_alpha=20.0)
    neumf.fit_data(FitData(train))
    for emb_u, emb_i, d in ((neumf.mlp_user, neumf.mlp_item, 4), (neumf.gmf_user, neumf.gmf_item, 6)):
        als = build_model("als", n, m, factors=d, alpha=20.0)
        als.fit_data(FitData(train))
        users, items = als.retrieval_vectors()
        scale = 3.0 / users.norm(dim=1).mean()
        torch.testing.assert_close(emb_u.weight, users * scale)
        torch.testing.assert_close(emb_i.weight, items * scale)
    # the GMF branch's logit is init_gmf times the (6-factor) ALS score
    gmf_logit = (neumf.gmf_user.weight * neumf.out.weight[0, :6]) @ neumf.gmf_item.weight.T
    torch.testing.assert_close(gmf_logit, 5.0 * als.score_all(Batch(torch.arange(n))), rtol=1e-4, atol=1e-5)
    plain = build_model("neumf", n, m, factors=6, mlp_factors=4, layers=[8, 4], init="random")
    before = plain.gmf_user.weight.clone()
    plain.fit_data(FitData(train))
    assert torch.equal(plain.gmf_user.weight, before)


def test_gmf_starts_from_als_with_its_logit_a_multiple_of_the_als_score(checkerboard):
    train = checkerboard.ranking
    n, m = train.n_users, train.n_items
    gmf = build_model("gmf", n, m, factors=4, init="als", init_norm=2.0, init_gmf=5.0, init_alpha=20.0, calibrate=False)
    gmf.fit_data(FitData(train))
    als = build_model("als", n, m, factors=4, alpha=20.0)
    als.fit_data(FitData(train))
    assert gmf.user_emb.weight.norm(dim=1).mean().item() == pytest.approx(2.0)
    als_scores = als.score_all(Batch(torch.arange(n)))
    torch.testing.assert_close(gmf.score_all(Batch(torch.arange(n))), 5.0 * als_scores, rtol=1e-4, atol=1e-5)
    assert get_model_class_defaults("gmf")["init"] == "als"
    # calibrated (the default): the same ranking, the logit an increasing affine map of the ALS score
    calibrated = build_model("gmf", n, m, factors=4, init="als", init_norm=2.0, init_alpha=20.0)
    calibrated.fit_data(FitData(train))
    a = calibrated.out.weight[0, 0].item() / gmf.out.weight[0, 0].item() * 5.0
    assert a > 0 and get_model_class_defaults("gmf")["calibrate"]
    # the planted data are separable, so the log loss's Newton steps run towards a large scale (56 or 9,042 as the ALS
    # vectors' last bits fall): float32 rounding is relative to the size of the terms, a * score and the bias
    terms = float((a * als_scores).abs().max())
    torch.testing.assert_close(calibrated.score_all(Batch(torch.arange(n))), a * als_scores + calibrated.out.bias.item(), rtol=1e-4,
                               atol=max(1e-4, 1e-6 * terms))


def get_model_class_defaults(name: str) -> dict:
    from deeprecs.models import get_model_class

    return get_model_class(name).model_defaults["ranking"]


def test_the_als_start_follows_als_on_leave_latest_one_out(checkerboard):
    import deeprecs.pipeline as pipeline
    from deeprecs.data.dataset import Split

    timed = checkerboard.ranking.replace(timestamps=np.arange(len(checkerboard.ranking.users)))
    spec = pipeline.TrainSpec(model="mlp", data="-", task="ranking", model_options={"user_factors": 4, "item_factors": 4})

    def start_of(spec: pipeline.TrainSpec, split: Split) -> tuple[float, float]:
        config = pipeline.setup(pipeline.Context.of(spec, split)).config
        return config.init_alpha, config.init_recency

    assert start_of(spec, Split(train=timed, test=timed, spec="loo")) == (4.0, 50.0)
    assert start_of(spec, Split(train=timed, test=timed, spec="random:0.2")) == (10.0, 0.0)
    given = pipeline.TrainSpec(model="mlp", data="-", task="ranking", model_options={"user_factors": 4, "item_factors": 4, "init_recency": 5.0})
    assert start_of(given, Split(train=timed, test=timed, spec="loo")) == (4.0, 5.0)


def test_the_fused_per_row_solve_equals_the_batched_sparse_products():
    from deeprecs.models import als_rows

    dtype = torch.float32
    if not als_rows.available(torch.zeros(1)):
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(4)
    n, m, d = 40, 25, 6
    dense = rng.random((n, m)) < 0.25
    dense[3] = False  # a row without cells: only the ridge and the gram pull on it
    rows, cols = np.nonzero(dense)
    w = rng.uniform(1, 5, len(rows)).astype(np.float32)
    conf, target = (torch.sparse_csr_tensor(c.crow_indices(), c.col_indices(), c.values().to(dtype), c.shape)
                    for c in (pattern(rows, cols, n, m, 3 * w), pattern(rows, cols, n, m, 1 + 3 * w)))
    y = torch.from_numpy(rng.normal(size=(m, d))).to(dtype)
    start = torch.from_numpy(rng.normal(size=(n, d))).to(dtype) * 0.1
    fused, batched = start.clone(), start.clone()
    solve_cg(fused, y, conf, target, l2=2.0, steps=3)
    solve_cg(batched, y, conf, target, l2=2.0, steps=3, fused=False)
    torch.testing.assert_close(fused, batched, rtol=1e-5, atol=1e-5)
    threads = torch.get_num_threads()
    try:  # rows split over threads: the same rows, the same arithmetic
        torch.set_num_threads(3)
        split = start.clone()
        solve_cg(split, y, conf, target, l2=2.0, steps=3)
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(split, fused, rtol=0, atol=0)


def test_the_fit_without_the_fused_solve_is_the_same_fit(monkeypatch, checkerboard):
    # the path other devices take (batched sparse products), here on the CPU: the same vectors
    from deeprecs.models import als_rows

    train = checkerboard.ranking
    fused = build_model("als", train.n_users, train.n_items, factors=4, iterations=4)
    fused.fit_data(FitData(train))
    monkeypatch.setattr(als_rows, "available", lambda x: False)
    batched = build_model("als", train.n_users, train.n_items, factors=4, iterations=4)
    batched.fit_data(FitData(train))
    torch.testing.assert_close(batched.user_factors, fused.user_factors, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(batched.item_factors, fused.item_factors, rtol=1e-4, atol=1e-6)
