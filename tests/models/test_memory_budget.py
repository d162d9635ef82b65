"""The memory budget: dense items x items fits are estimated before anything is allocated; over
the budget a model refuses in one line naming --memory-budget and a ranking blend leaves it out."""

import numpy as np
import pytest
import torch

from deeprecs.data.interactions import Interactions
from deeprecs.memory import GIB, Budget, MemoryBudgetError
from deeprecs.models import build_model, get_model_class
from deeprecs.models.base import FitData
from deeprecs.models.ease import item_gram

TINY = 1e-6  # GiB: about 1 KB


def test_budget_sources(monkeypatch):
    assert Budget.of(2.0).nbytes == 2 * GIB and "--memory-budget 2" in Budget.of(2.0).source
    monkeypatch.setenv("DEEPRECS_MEMORY_BUDGET", "0.5")
    assert Budget.of().nbytes == GIB // 2
    monkeypatch.delenv("DEEPRECS_MEMORY_BUDGET")
    assert 0 < Budget.of().nbytes and "available" in Budget.of().source


def test_ease_estimate_grows_with_the_catalogue_squared_and_refuses_over_the_budget():
    ease = get_model_class("ease")
    assert ease.memory_estimate({}, 200_948, 34_000) == 28 * 34_000**2 + (3 << 27)  # ~26 GiB: what got killed before
    with pytest.raises(MemoryBudgetError, match=r"ease on 34,000 items needs about 30.5 GiB.*--memory-budget"):
        ease.within_budget({}, 200_948, 34_000, Budget.of(8.0))
    assert get_model_class("bpr-mf").memory_estimate({}, 200_948, 87_585) == 0


def test_ranking_blend_leaves_out_what_does_not_fit(caplog):
    blend = get_model_class("blend")
    opts = blend.defaults(__import__("deeprecs.models.base", fromlist=["Setting"]).Setting("ranking")).model
    assert opts["members"] == ["ease", "rp3beta", "bpr-mf", "als"]
    kept = blend.within_budget(opts, 1000, 34_000, Budget.of(8.0))
    assert kept["members"] == ["rp3beta", "bpr-mf", "als"]  # RP3beta's walk is built a block at a time: 4 bytes a cell
    assert "leaving out ease" in caplog.text and "--memory-budget" in caplog.text
    kept = blend.within_budget(opts, 1000, 87_585, Budget.of(8.0))
    assert kept["members"] == ["bpr-mf", "als"]
    assert blend.within_budget(opts, 1000, 500, Budget.of(8.0)) == opts
    with pytest.raises(MemoryBudgetError, match="--memory-budget"):
        blend.within_budget({**opts, "members": ["ease", "rp3beta"]}, 1000, 87_585, Budget.of(8.0))


def test_item_gram_in_blocks_equals_the_dense_product():
    rng = np.random.default_rng(0)
    users, items = np.nonzero(rng.random((37, 11)) < 0.3)
    csr = Interactions.from_raw(users, items).tocsr()
    dense = csr.toarray().astype(np.float64)
    for chunk in (8 * 11, 8 * 11 * 5, 1 << 27):  # one row, five rows, all rows a block
        torch.testing.assert_close(item_gram(csr, torch.device("cpu"), torch.float64, chunk).numpy(), dense.T @ dense)


def test_rp3beta_in_blocks_equals_one_block(monkeypatch):
    rng = np.random.default_rng(1)
    users, items = np.nonzero(rng.random((40, 13)) < 0.3)
    train = Interactions.from_raw(users, items)
    weights = []
    for block in (1 << 26, 8 * 13 * 3):  # all rows at once; three rows a block
        monkeypatch.setattr(get_model_class("rp3beta"), "block_bytes", block)
        model = build_model("rp3beta", train.n_users, train.n_items, neighbors=4)
        model.fit_data(FitData(train))
        weights.append(model.weights.detach().clone())
    torch.testing.assert_close(weights[0], weights[1])
    assert (weights[0].diagonal() == 0).all() and ((weights[0] != 0).sum(1) <= 4).all()
