"""SASRec's time-aware attention: the buckets of the time between items, the learned bias's
gradient, what the times change (and what they do not), and a planted taste only the time tells."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deeprecs.batch import Batch, pad_histories
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.data.sequences import user_histories
from deeprecs.errors import ConfigError
from deeprecs.models import build_model
from deeprecs.models.base import FitData
from deeprecs.models.time_bias import TimeBias, time_buckets
from deeprecs.training import TrainConfig, fit


def test_buckets_are_half_octaves_of_the_time_between_items_by_hand():
    times = torch.tensor([[0, 1, 91, 86_401, 31_536_000 + 1]])
    got = time_buckets(times, 64)[0]
    slow = [[math.floor(2 * math.log2(1 + abs(a - b))) for b in times[0].tolist()] for a in times[0].tolist()]
    assert got.tolist() == slow
    assert got[0].tolist() == [0, 2, 13, 32, 49]  # the same second, a second, 1.5 minutes, a day, a year
    assert time_buckets(times, 20)[0, 0].tolist() == [0, 2, 13, 19, 19]  # at most n - 1
    assert torch.equal(time_buckets(times + 1_700_000_000, 64), time_buckets(times, 64))  # the time between, not the date


def test_the_bias_gradient_sums_per_bucket_as_indexing_would():
    torch.manual_seed(0)
    bias = TimeBias(blocks=2, heads=3, n=7)
    with torch.no_grad():
        bias.table.normal_()
    buckets = torch.randint(0, 7, (4, 5, 5))
    upstream = torch.randn(4, 3, 5, 5)
    out = bias(1, buckets)
    reference = bias.table[1][:, buckets].transpose(0, 1)
    torch.testing.assert_close(out, reference)
    (grad,) = torch.autograd.grad((out * upstream).sum(), bias.table)
    (expected,) = torch.autograd.grad((reference * upstream).sum(), bias.table)
    torch.testing.assert_close(grad, expected)
    assert grad[0].abs().sum() == 0  # block 0 was not used


def timed_model(seed: int = 0, **options):
    torch.manual_seed(seed)
    return build_model("sasrec", 4, 10, **{"factors": 16, "max_len": 12, "dropout": 0.0, "time_buckets": 40, **options}).eval()


def test_times_move_the_state_their_differences_do_and_a_zero_bias_is_the_plain_model():
    model = timed_model()
    history = torch.tensor([[-1, -1, 3, 1, 4, 1, 5, 9]])
    times = torch.tensor([[0, 0, 10, 20, 5_000, 5_010, 900_000, 900_030]])
    with torch.no_grad():
        plain = model.sequence_states(history)
        torch.testing.assert_close(model.sequence_states(history, times), plain)  # the bias starts at 0
        model.time_bias.table.normal_()
        timed = model.sequence_states(history, times)
        assert not torch.allclose(timed[:, -1], plain[:, -1])
        torch.testing.assert_close(model.sequence_states(history, times + 1_234_567), timed)  # the date does not matter
        same = times.clone()
        same[0, :2] = 77  # nor the padding's times
        torch.testing.assert_close(model.sequence_states(history, same), timed)
        one_session = torch.full_like(times, 5)  # every item at once: one bucket, a constant the softmax ignores
        torch.testing.assert_close(model.sequence_states(history, one_session), plain, rtol=1e-5, atol=1e-5)
        for t in range(3, 7):  # still causal: later items and their times change no earlier state
            later = times.clone()
            later[0, t + 1 :] += 10_000_000
            torch.testing.assert_close(model.sequence_states(history, later)[:, : t + 1], timed[:, : t + 1], rtol=0, atol=1e-6)


def test_stored_histories_keep_their_times_and_score_as_a_given_timed_history():
    users, items, ts = [0, 0, 0, 1, 1], [3, 5, 2, 7, 1], [100, 40, 900_000, 7, 8]
    data = Interactions(np.array(users), np.array(items), IdMap(np.arange(4), kind="user"), IdMap(np.arange(10), kind="item"),
                        timestamps=np.array(ts))
    model = timed_model()
    model.fit_data(FitData(data))
    stored_items, stored_times = user_histories(data, 12, times=True)
    assert torch.equal(model.histories, torch.from_numpy(stored_items)) and torch.equal(model.history_times, torch.from_numpy(stored_times))
    with torch.no_grad():
        model.time_bias.table.normal_()
        by_id = model.score_all(Batch(torch.tensor([0, 1])))
        given = model.score_all(Batch(torch.tensor([-1, -1]), history=pad_histories([[5, 3, 2], [7, 1]]),
                                      history_times=pad_histories([[40, 100, 900_000], [7, 8]])))
        torch.testing.assert_close(given, by_id, rtol=1e-5, atol=1e-5)
        untimed = model.score_all(Batch(torch.tensor([-1]), history=pad_histories([[5, 3, 2]])))
        assert not torch.allclose(untimed[0], by_id[0])  # without times: the order alone
    with pytest.raises(ConfigError, match="one timestamp per item"):
        model.score_all(Batch(torch.tensor([-1]), history=pad_histories([[5, 3, 2]]), history_times=torch.tensor([[40, 100]])))


def session_data(n_users: int = 128, n_items: int = 64, seed: int = 0) -> tuple[Interactions, np.ndarray]:
    """Every user sees two items ``a`` then ``b`` (a pair of their own) and then sees one of them
    again: ``a`` when ``b`` came seconds after it (one session), ``b`` when ``b`` came days later.
    The same kind of pair in the same order either way: only the time between them tells which.
    Returns the data and ``(pairs, gap)`` for held-out pairs to score."""
    rng = np.random.default_rng(seed)
    pairs = np.stack([rng.choice(n_items, 2, replace=False) for _ in range(n_users + 16)])
    gap = np.where(np.arange(n_users + 16) % 2 == 0, 8, 500_000)
    again = np.where(gap == 8, pairs[:, 0], pairs[:, 1])
    seqs = np.concatenate([pairs, again[:, None]], 1)[:n_users]
    start = np.arange(n_users)[:, None] * 10_000_000
    times = (start + np.stack([np.zeros(n_users), gap[:n_users], gap[:n_users] + 60], 1)).astype(np.int64)
    users = np.repeat(np.arange(n_users), 3)
    data = Interactions(users, seqs.ravel(), IdMap(np.arange(n_users), kind="user"), IdMap(np.arange(n_items), kind="item"),
                        timestamps=times.ravel())
    return data, (pairs[n_users:], gap[n_users:])


def test_training_reads_the_times_and_learns_to_attend_within_a_session():
    data, _ = session_data()
    torch.manual_seed(0)
    model = build_model("sasrec", data.n_users, data.n_items, factors=16, max_len=4, dropout=0.0, time_buckets=40)
    model.fit_data(FitData(data))
    cfg = TrainConfig(epochs=60, batch_size=16, lr=0.01, loss="full-softmax", threads=1, progress=False)
    task = model.make_task("ranking", FitData(data), cfg)
    assert torch.equal(task.times[:, -2:], torch.from_numpy(data.timestamps.reshape(-1, 3)[:, :2]))  # the inputs' times
    fit(model, task, cfg)
    session, days = model.time_bias.table[:, 0, 6], model.time_bias.table[:, 0, 37]  # 8 s and 500,000 s apart
    assert (session - days > 1.0).all(), model.time_bias.table[:, 0]  # in every block: attend to the session's item
    assert model.time_bias.table[:, 0, 7:37].abs().max() == 0  # buckets no pair fell in stay at 0
