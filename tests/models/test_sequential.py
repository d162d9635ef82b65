"""Sequential models (SASRec, GRU4Rec): causal, blind to padding, scored from a stored or a given
history alike, and able to learn a planted order that popularity cannot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deeprecs.batch import Batch, pad_histories
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.models import MODELS, build_model
from deeprecs.models.base import FitData
from deeprecs.retrieval import topk
from deeprecs.errors import ConfigError
from deeprecs.tasks import RankingTask, SequenceTask
from deeprecs.training import TrainConfig, fit

SEQUENTIAL = ["sasrec", "gru4rec"]
SMALL = {"factors": 16, "max_len": 12, "dropout": 0.0}


def model_of(name: str, n_users: int = 4, n_items: int = 10, seed: int = 0, **options):
    torch.manual_seed(seed)
    return build_model(name, n_users, n_items, **{**SMALL, **options}).eval()


@pytest.mark.parametrize("name", SEQUENTIAL)
def test_the_state_at_t_reads_no_item_after_t(name):
    model = model_of(name)
    history = torch.tensor([[-1, -1, 3, 1, 4, 1, 5, 9]])
    with torch.no_grad():
        before = model.sequence_states(history)
        for t in range(2, 7):
            changed = history.clone()
            changed[0, t + 1 :] = torch.tensor([2, 6, 0, 7, 8, 2])[: 7 - t]
            after = model.sequence_states(changed)
            torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1], rtol=0, atol=1e-6)
            assert not torch.allclose(after[:, -1], before[:, -1])  # the latest state does read them


@pytest.mark.parametrize("name", SEQUENTIAL)
def test_padding_width_and_stored_or_given_history_score_alike(name):
    model = model_of(name, n_users=3)
    stored = [[4, 2, 7], [1], []]
    model.keep("histories", pad_histories([[-1] * 12], 12).repeat(3, 1))
    model.histories[0, -3:] = torch.tensor(stored[0])
    model.histories[1, -1] = 1
    with torch.no_grad():
        by_id = model.score_all(Batch(torch.arange(3)))
        narrow = model.score_all(Batch(torch.full((3,), -1), history=pad_histories(stored)))
        wide = model.score_all(Batch(torch.full((3,), -1), history=pad_histories([[-1] * 9 + h for h in stored])[:, -12:].clamp(min=-1)))
        torch.testing.assert_close(narrow, by_id, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(wide, by_id, rtol=1e-5, atol=1e-5)
        longer = model.score_all(Batch(torch.tensor([-1]), history=torch.tensor([[8] * 20 + stored[0]])))  # only max_len read
        torch.testing.assert_close(longer, model.score_all(Batch(torch.tensor([-1]), history=torch.tensor([[8] * 9 + stored[0]]))))


def cyclic(n_users: int = 24, n_items: int = 12, length: int = 10) -> tuple[Interactions, np.ndarray]:
    """User ``u`` sees items ``u, u + 1, ...`` (mod ``n_items``) in that order; the next one is held
    out. Every item is as popular as every other, so only the order tells the next item."""
    users = np.repeat(np.arange(n_users), length)
    steps = np.tile(np.arange(length), n_users)
    items = (users + steps) % n_items
    times = np.random.default_rng(0).permutation(len(users))  # rows shuffled in time...
    times = np.sort(times.reshape(n_users, length), axis=1).ravel()  # ...but in order within each user
    data = Interactions(users, items, IdMap(np.arange(n_users), kind="user"), IdMap(np.arange(n_items), kind="item"), timestamps=times)
    return data, (np.arange(n_users) + length) % n_items


@pytest.mark.parametrize("name", SEQUENTIAL + ["popularity"])
def test_learns_a_planted_order_that_popularity_cannot(name):
    data, nxt = cyclic()
    torch.manual_seed(0)
    model = build_model(name, data.n_users, data.n_items, **(SMALL if name != "popularity" else {}))
    model.fit_data(FitData(data))
    negatives = {k: v for k, v in MODELS[name].train_defaults.get("ranking", {}).items() if k in ("n_negatives", "sampler")}
    cfg = TrainConfig(epochs=40, batch_size=8, lr=0.01, loss=MODELS[name].default_loss["ranking"], threads=1, progress=False, **negatives)
    task = model.make_task("ranking", FitData(data), cfg)
    if task is not None:
        assert isinstance(task, SequenceTask) and len(task) == data.n_users
        fit(model, task, cfg)
    items, _ = topk(model.eval(), np.arange(data.n_users), 1)  # seen items are not excluded: the cycle repeats
    hr1 = float((items[:, 0] == nxt).mean())
    if name == "popularity":
        assert hr1 <= 0.1
    else:
        assert hr1 >= 0.95, f"{name}: HR@1 {hr1}"


@pytest.mark.parametrize("loss", ["bce", "softmax", "full-softmax", "shared-softmax"])
def test_sequence_task_losses_mask_padding_and_train(loss):
    data, _ = cyclic(n_users=6, length=4)
    model = model_of("sasrec", data.n_users, data.n_items).train()
    model.fit_data(FitData(data))
    task = SequenceTask(data, TrainConfig(loss=loss, n_negatives=2), max_len=6)
    assert task.inputs.shape == (6, 6) and (task.inputs[:, :3] == -1).all()  # 4 items: 3 read, 3 predicted
    assert torch.equal(task.targets[:, -3:], task.inputs[:, -3:] + 1 - 12 * (task.inputs[:, -3:] == 11))
    value = task.loss(model, torch.arange(6), torch.Generator().manual_seed(0))
    assert torch.isfinite(value) and value > 0
    value.backward()
    assert model.item_emb.weight.grad is not None


@pytest.mark.parametrize("sampler", ["uniform-excl", "popularity"])
def test_shared_softmax_is_the_softmax_over_the_drawn_items_at_every_position(sampler):
    data, _ = cyclic(n_users=6, length=4)
    data = data.subset(np.arange(len(data)) != 1)  # user 0: 3 items, so padding differs by row
    model = model_of("sasrec", data.n_users, data.n_items)
    task = SequenceTask(data, TrainConfig(loss="shared-softmax", n_negatives=5, sampler=sampler), max_len=6)
    value = task.loss(model, torch.arange(6), torch.Generator().manual_seed(3))
    shared = task.shared.draw(torch.Generator().manual_seed(3))
    slow = slow_sequence_loss(model, task, task.shared.log_q,
                              lambda n, target, read: [int(j) for j in shared if int(j) != target])  # an accidental hit left out
    torch.testing.assert_close(value, slow, rtol=1e-5, atol=1e-6)


def slow_sequence_loss(model, task: SequenceTask, log_q, negatives_of) -> torch.Tensor:  # noqa: ANN001
    """The task's loss the slow, obvious way: each position of each row on its own, the softmax of
    its target against ``negatives_of(n, target, items read)`` (``n``: the position's index among
    all), every score less ``log_q``."""
    terms = []
    for r in range(len(task)):
        states = model.sequence_states(task.inputs[r : r + 1])[0]
        for t in range(task.inputs.shape[1]):
            if task.inputs[r, t] < 0:
                continue
            target, read = int(task.targets[r, t]), set(task.inputs[r, : t + 1].tolist())
            scores = states[t] @ model.item_emb.weight.T - log_q
            negatives = negatives_of(len(terms), target, read)
            terms.append(torch.logsumexp(scores[[target] + negatives], 0) - scores[target])
    return torch.stack(terms).mean()


def test_scoring_the_latest_state_only_matches_the_whole_sequence():
    model = model_of("sasrec", n_items=10, max_len=12)
    history = torch.tensor([[-1, -1, 3, 1, 4, 1, 5, 9], [-1, -1, -1, -1, -1, -1, 2, 6]])
    with torch.no_grad():
        whole = model.encode(history)[:, -1]
        torch.testing.assert_close(model.encode_latest(history), whole, rtol=1e-5, atol=1e-6)
        model.latest_cells = 64  # one history at a time (8 * 8 cells)
        torch.testing.assert_close(model.states(Batch(torch.tensor([-1, -1]), history=history)), whole, rtol=1e-5, atol=1e-6)


def test_batches_cover_every_row_once_in_batches_of_like_lengths():
    data, _ = cyclic(n_users=40, length=3)
    data = data.subset(~((data.users % 2 == 0) & (np.arange(len(data)) % 3 == 0)))  # even users: 2 items
    task = SequenceTask(data, TrainConfig(loss="bce"), max_len=4)
    batches = list(task.batches(5, torch.Generator().manual_seed(1)))
    assert sorted(torch.cat(batches).tolist()) == list(range(40))
    assert all(len(set(task.lengths[b].tolist())) == 1 for b in batches)  # one pool of 16 batches: sorted by length


@pytest.mark.parametrize("option", ["mask_seen", "mask_history"])
def test_the_sequence_masks_are_refused_by_the_pairwise_ranking_task(option):
    data, _ = cyclic(n_users=4, length=3)
    with pytest.raises(ConfigError, match="read histories"):
        RankingTask(data, TrainConfig(loss="bpr", **{option: True}))


def test_history_table_marks_every_item_of_each_rows_user():
    from deeprecs.masking import UserItems

    data, _ = cyclic(n_users=5, n_items=9, length=4)
    data = data.subset(np.arange(len(data)) % 7 != 3)  # users with 2 to 4 items
    users = torch.tensor([0, 2, 4, 2])
    table = UserItems.of(data).table(users)
    expected = np.zeros((4, 9), dtype=bool)
    for r, u in enumerate(users.tolist()):
        expected[r, data.items[data.users == u]] = True
    assert np.array_equal(table.numpy(), expected)


@pytest.mark.parametrize("mode", ["seen", "history"])
@pytest.mark.parametrize("loss", ["full-softmax", "shared-softmax", "softmax"])
def test_masks_leave_what_a_position_has_read_or_its_user_has_out_of_its_negatives(loss, mode):
    """--mask-seen: the items the row has shown up to the position; --mask-history: every item of
    the user's (earlier and later)."""
    histories = {0: [3, 1, 4, 1, 5], 1: [2, 0, 2], 2: [5, 4]}  # repeats: a target read before stays the target
    users = np.repeat(list(histories), [len(h) for h in histories.values()])
    items = np.concatenate(list(histories.values()))
    data = Interactions(users, items, IdMap(np.arange(3), kind="user"), IdMap(np.arange(6), kind="item"),
                        timestamps=np.arange(len(users)))
    model = model_of("sasrec", data.n_users, data.n_items)
    cfg = TrainConfig(loss=loss, n_negatives=4 if loss == "softmax" else 5, sampler="uniform", mask_seen=mode == "seen",
                      mask_history=mode == "history")
    task = SequenceTask(data, cfg, max_len=6)
    value = task.loss(model, torch.arange(3), torch.Generator().manual_seed(3))
    mask = task.inputs >= 0
    drawn = [range(6)] * 7  # full-softmax: every item at every position
    if loss == "shared-softmax":
        drawn = [task.shared.draw(torch.Generator().manual_seed(3)).tolist()] * 7
    elif loss == "softmax":  # each position's own negatives
        rows = torch.arange(3).unsqueeze(1).expand_as(mask)[mask]
        drawn = task.sampler.sample(task.users[rows], 4, torch.Generator().manual_seed(3)).tolist()
    rows = torch.arange(3).unsqueeze(1).expand_as(mask)[mask]

    def left_out(n, read):  # noqa: ANN001, ANN202
        return read if mode == "seen" else set(histories[int(task.users[rows[n]])])

    if loss == "softmax":  # a drawn negative that is the target stays (as without the mask)
        def negatives_of(n, target, read):  # noqa: ANN001, ANN202
            return [j for j in drawn[n] if j not in left_out(n, read) or j == target]
    else:  # the target once, as the positive (shared-softmax: an accidental hit left out)
        def negatives_of(n, target, read):  # noqa: ANN001, ANN202
            return [j for j in drawn[n] if j not in left_out(n, read) and j != target]
    log_q = task.shared.log_q if loss == "shared-softmax" else 0.0
    slow = slow_sequence_loss(model, task, log_q, negatives_of)
    torch.testing.assert_close(value, slow, rtol=1e-5, atol=1e-6)
    fast_grad = torch.autograd.grad(value, model.item_emb.weight)[0]
    torch.testing.assert_close(fast_grad, torch.autograd.grad(slow, model.item_emb.weight)[0], rtol=1e-4, atol=1e-6)
