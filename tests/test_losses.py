"""Exact loss values on tiny hand-made tensors."""

from __future__ import annotations

import math

import pytest
import torch

from deeprecs.errors import ConfigError
from deeprecs.batch import Batch
from deeprecs.losses import bce, bpr, cross_entropy, get_loss, margin, mse, shared_softmax, softmax, warp


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_mse():
    assert mse(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 5.0])).item() == pytest.approx((1 + 4) / 2)


def test_bce_is_ncf_log_loss_over_every_pair():
    pos, neg = torch.tensor([2.0, -1.0]), torch.tensor([[0.5, -3.0], [1.0, 0.0]])
    terms = [-math.log(sig(2.0)), -math.log(sig(-1.0))] + [-math.log(1 - sig(x)) for x in (0.5, -3.0, 1.0, 0.0)]
    assert bce(pos, neg).item() == pytest.approx(sum(terms) / 6, rel=1e-6)


def test_softmax_is_minus_log_the_positives_share():
    pos, neg = torch.tensor([2.0, -1.0]), torch.tensor([[0.5, -3.0], [1.0, 0.0]])
    rows = [(2.0, (0.5, -3.0)), (-1.0, (1.0, 0.0))]
    terms = [-math.log(math.exp(p) / (math.exp(p) + sum(math.exp(x) for x in n))) for p, n in rows]
    assert softmax(pos, neg).item() == pytest.approx(sum(terms) / 2, rel=1e-6)
    # shift-invariant (a common bias cannot move it), and stable where exp would overflow
    assert softmax(pos + 500, neg + 500).item() == pytest.approx(softmax(pos, neg).item(), rel=1e-5)
    assert softmax(torch.tensor([0.0]), torch.tensor([[1000.0]])).item() == pytest.approx(1000.0, rel=1e-6)
    assert get_loss("ranking", "softmax") is softmax


def test_bpr_is_minus_log_sigmoid_not_one_minus_sigmoid():
    pos, neg = torch.tensor([2.0, 0.0]), torch.tensor([[1.0, 3.0], [0.0, -2.0]])
    diffs = [1.0, -1.0, 0.0, 2.0]
    assert bpr(pos, neg).item() == pytest.approx(sum(-math.log(sig(d)) for d in diffs) / 4, rel=1e-6)
    assert bpr(pos, neg).item() != pytest.approx(sum(1 - sig(d) for d in diffs) / 4, rel=1e-3)
    # unbounded for badly ordered pairs, as -log sigmoid is
    assert bpr(torch.tensor([0.0]), torch.tensor([[50.0]])).item() == pytest.approx(50.0, rel=1e-6)


def test_margin_hinge():
    pos, neg = torch.tensor([1.0, 0.0]), torch.tensor([[0.5, -1.0], [2.0, -0.5]])
    # max(0, m + neg - pos) with m = 1: 0.5, 0, 3, 0.5
    assert margin(pos, neg).item() == pytest.approx((0.5 + 0 + 3 + 0.5) / 4)
    assert margin(pos, neg, margin=0.0).item() == pytest.approx((0 + 0 + 2 + 0) / 4)


def test_warp_without_violators_is_zero():
    pos, neg = torch.tensor([5.0, 4.0]), torch.tensor([[0.0, 1.0, -2.0], [2.9, 0.0, 0.0]])
    assert warp(pos, neg, margin=1.0, n_items=100).item() == 0.0


def test_warp_weights_a_violator_found_early_more():
    pos = torch.tensor([0.0, 0.0])
    first_try = torch.tensor([[0.5, -5.0, -5.0, -5.0]])  # violated at try 1: rank ~ 999
    third_try = torch.tensor([[-5.0, -5.0, 0.5, -5.0]])  # violated at try 3: rank ~ 333
    l1, l3 = warp(pos[:1], first_try, n_items=1000).item(), warp(pos[:1], third_try, n_items=1000).item()
    h = lambda r: sum(1 / k for k in range(1, r + 1))  # noqa: E731
    assert l1 == pytest.approx(1.5 * h(999), rel=1e-3)  # hinge 1 + 0.5 - 0, weight H(floor(999 / 1))
    assert l3 == pytest.approx(1.5 * h(333), rel=1e-3)
    # a batch: mean over positives, the pair without violators adds 0
    both = warp(pos, torch.cat([first_try, torch.full((1, 4), -9.0)]), n_items=1000).item()
    assert both == pytest.approx(l1 / 2, rel=1e-6)


def test_warp_trains_on_the_first_violator_not_the_hardest():
    pos = torch.tensor([0.0], requires_grad=True)
    neg = torch.tensor([[-5.0, 0.2, 3.0]], requires_grad=True)  # tries: no, yes (first), yes (hardest)
    loss = warp(pos, neg, n_items=10)
    loss.backward()
    assert neg.grad[0, 1] > 0 and neg.grad[0, 0] == 0 and neg.grad[0, 2] == 0
    assert pos.grad[0] < 0
    h = sum(1 / k for k in range(1, 5))  # rank = floor(9 / 2) = 4 (H by its asymptotic form: 0.3 % off here)
    assert loss.item() == pytest.approx(1.2 * h, rel=5e-3)


def test_get_loss_refuses_a_loss_of_the_other_task():
    assert get_loss("ranking", "bpr") is bpr and get_loss("rating", "mse") is mse
    with pytest.raises(ConfigError, match="does not fit task"):
        get_loss("rating", "bpr")
    with pytest.raises(ConfigError):
        get_loss("ranking", "mse")


def test_full_softmax_is_cross_entropy_over_every_item():
    scores = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    targets = torch.tensor([1, 0])
    pos = scores.gather(1, targets.unsqueeze(1)).squeeze(1)
    by_hand = -(torch.log(torch.exp(pos) / torch.exp(scores).sum(1))).mean()
    assert get_loss("ranking", "full-softmax")(pos, scores).item() == pytest.approx(by_hand.item())
    assert cross_entropy(scores, targets).item() == pytest.approx(by_hand.item())


def test_label_smoothing_spreads_its_weight_over_the_items_left_in():
    scores = torch.tensor([[2.0, 0.0, -1.0, 1.0], [0.5, float("-inf"), 1.5, float("-inf")]])
    targets = torch.tensor([3, 0])
    torch.testing.assert_close(cross_entropy(scores[:1], targets[:1], 0.2),
                               torch.nn.functional.cross_entropy(scores[:1], targets[:1], label_smoothing=0.2))
    def row(s, t, kept):  # slow: -log p over the items left in, the target weighted 0.8 + 0.2 / len(kept)
        log_z = math.log(sum(math.exp(s[j]) for j in kept))
        return sum(((0.8 if j == t else 0.0) + 0.2 / len(kept)) * (log_z - s[j]) for j in kept)
    expected = (row([2.0, 0.0, -1.0, 1.0], 3, [0, 1, 2, 3]) + row([0.5, 0, 1.5, 0], 0, [0, 2])) / 2
    assert cross_entropy(scores, targets, 0.2).item() == pytest.approx(expected, rel=1e-6)


def test_shared_softmax_leaves_accidental_hits_out_and_corrects_by_log_q():
    pos, neg = torch.tensor([2.0, -1.0]), torch.tensor([[0.5, 2.0, -3.0], [1.0, 0.0, 0.5]])  # 3 shared negatives
    hits = torch.tensor([[False, True, False], [False, False, False]])  # row 0's positive was drawn as its 2nd negative
    row0 = -math.log(math.exp(2.0) / (math.exp(2.0) + math.exp(0.5) + math.exp(-3.0)))
    row1 = -math.log(math.exp(-1.0) / (math.exp(-1.0) + math.exp(1.0) + math.exp(0.0) + math.exp(0.5)))
    assert shared_softmax(pos, neg, hits=hits).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    assert get_loss("ranking", "shared-softmax")(pos, neg).item() == pytest.approx(softmax(pos, neg).item())  # no hits, no q
    # logQ: each score minus the log of its draw probability
    pos_q, neg_q = torch.tensor([0.5, 0.25]), torch.tensor([0.1, 0.5, 0.4])
    by_hand = softmax(pos - pos_q.log(), neg - neg_q.log()).item()
    assert shared_softmax(pos, neg, pos_log_q=pos_q.log(), neg_log_q=neg_q.log()).item() == pytest.approx(by_hand, rel=1e-6)
    uniform = torch.full((3,), math.log(1 / 7))  # uniform draws: the correction is a constant shift
    assert shared_softmax(pos, neg, hits=hits, pos_log_q=uniform[:2], neg_log_q=uniform).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_the_ranking_task_shares_its_negatives_across_the_batch(checkerboard):
    from deeprecs.models import build_model
    from deeprecs.training import RankingTask, TrainConfig

    model = build_model("mf", checkerboard.ranking.n_users, checkerboard.ranking.n_items, factors=4)
    task = RankingTask(checkerboard.ranking, TrainConfig(loss="shared-softmax", n_negatives=3))
    value = task.loss(model, torch.arange(8), torch.Generator().manual_seed(0))
    shared = task.shared.draw(torch.Generator().manual_seed(0))  # the same draw
    users, items = task.users[:8], task.items[:8]
    scores = model.score_all(Batch(users))
    pos, neg = scores.gather(1, items.unsqueeze(1)).squeeze(1), scores[:, shared]
    slow = torch.stack([torch.logsumexp(torch.cat([pos[r : r + 1], neg[r][shared != items[r]]]), 0) - pos[r] for r in range(8)]).mean()
    torch.testing.assert_close(value, slow + model.regularization(Batch(users, items)))


def test_shared_softmax_over_a_catalogue_no_larger_than_its_draw_is_the_full_softmax(checkerboard):
    from deeprecs.models import build_model
    from deeprecs.training import RankingTask, TrainConfig

    data = checkerboard.ranking
    model = build_model("mf", data.n_users, data.n_items, factors=4)
    shared = RankingTask(data, TrainConfig(loss="shared-softmax", n_negatives=data.n_items))
    full = RankingTask(data, TrainConfig(loss="full-softmax"))
    assert shared.shared is None and shared.full
    idx, gen = torch.arange(8), torch.Generator().manual_seed(0)
    torch.testing.assert_close(shared.loss(model, idx, gen), full.loss(model, idx, gen))


def test_the_ranking_task_trains_with_the_full_softmax(checkerboard):
    from deeprecs.models import build_model
    from deeprecs.training import RankingTask, TrainConfig

    model = build_model("mf", checkerboard.ranking.n_users, checkerboard.ranking.n_items, factors=4)
    task = RankingTask(checkerboard.ranking, TrainConfig(loss="full-softmax"))
    value = task.loss(model, torch.arange(8), torch.Generator().manual_seed(0))
    users, items = task.users[:8], task.items[:8]
    scores = model.score_all(Batch(users))
    torch.testing.assert_close(value, cross_entropy(scores, items) + model.regularization(Batch(users, items)))
