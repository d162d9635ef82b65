"""A sequential run served and exported: ``POST /recommendations`` reads ``liked`` as an ordered list
of recent items (no retraining), and the export holds each user's next items after their history."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from deeprecs.data.dataset import Dataset
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.pipeline import TrainSpec, train
from deeprecs.runs import load_run
from deeprecs.service import create_app
from deeprecs.store import export_run

N_USERS, N_ITEMS, LENGTH = 60, 120, 10  # 110 unseen items each: enough for loo's 99 negatives


@pytest.fixture(scope="module")
def seq_run(tmp_path_factory):
    """GRU4Rec trained through the pipeline (loo, refit) on a cycle: user ``s{u}`` sees items
    ``100 + (2u + t) % 120`` for ``t = 0..9`` in that order."""
    users = np.repeat(np.arange(N_USERS), LENGTH)
    items = (2 * users + np.tile(np.arange(LENGTH), N_USERS)) % N_ITEMS
    inter = Interactions(users, items, IdMap([f"s{u:02d}" for u in range(N_USERS)], kind="user"), IdMap(100 + np.arange(N_ITEMS), kind="item"),
                         timestamps=1000 * users + np.tile(np.arange(LENGTH), N_USERS))
    spec = TrainSpec(model="gru4rec", data="cycle", split="loo", model_options={"factors": 16, "dropout": 0.0},
                     train_options={"epochs": 40, "batch_size": 8, "lr": 0.01, "threads": 1, "patience": 0})
    out = tmp_path_factory.mktemp("runs") / "gru4rec"
    _, metrics, *_ = train(spec, out=out, progress=False, dataset=Dataset(name="cycle", interactions=inter))
    assert metrics["full_hr@10"] == 1.0
    return load_run(out)


def test_an_ordered_list_gets_its_next_items(seq_run):
    client = TestClient(create_app(seq_run))
    body = client.post("/recommendations", json={"liked": [103, 104, 105], "k": 3}).json()
    assert body["source"] == "next-item" and body["liked"] == [103, 104, 105]
    assert body["recommendations"][0]["item"] == 106
    first = lambda liked: client.post("/recommendations", json={"liked": liked, "k": 1}).json()["recommendations"][0]["item"]  # noqa: E731
    assert (first([150, 151, 152, 103, 104, 105]), first([103, 104, 105, 150, 151, 152])) == (106, 153)  # the order is read
    assert {r["item"] for r in body["recommendations"]}.isdisjoint({103, 104, 105})


def test_export_holds_each_users_next_items_after_their_whole_history(seq_run, tmp_path):
    url = f"sqlite:///{tmp_path / 'recs.db'}"
    export_run(seq_run, url, k=5, progress=False)
    store, live = TestClient(create_app(seq_run, url)), TestClient(create_app(seq_run))
    firsts = 0
    for u in range(N_USERS):
        s = store.get(f"/users/s{u:02d}/recommendations", params={"k": 5}).json()
        v = live.get(f"/users/s{u:02d}/recommendations", params={"k": 5}).json()
        assert s["source"] == "store" and [r["item"] for r in s["recommendations"]] == [r["item"] for r in v["recommendations"]]
        # the history holds train + validation (the refit's data): the next one is the test item
        following = [r["item"] for r in s["recommendations"]]
        assert 100 + (2 * u + LENGTH - 1) % N_ITEMS in following[:3]
        firsts += following[0] == 100 + (2 * u + LENGTH - 1) % N_ITEMS
    assert firsts >= 0.8 * N_USERS


@pytest.fixture(scope="module")
def timed_run(tmp_path_factory):
    """SASRec with its time-aware attention (the default), through the pipeline on the same cycle."""
    users = np.repeat(np.arange(N_USERS), LENGTH)
    items = (2 * users + np.tile(np.arange(LENGTH), N_USERS)) % N_ITEMS
    inter = Interactions(users, items, IdMap([f"s{u:02d}" for u in range(N_USERS)], kind="user"), IdMap(100 + np.arange(N_ITEMS), kind="item"),
                         timestamps=1000 * users + 7 ** np.tile(np.arange(LENGTH), N_USERS))  # gaps of seconds to days
    spec = TrainSpec(model="sasrec", data="cycle", split="loo", model_options={"factors": 16, "dropout": 0.0, "max_len": 12},
                     train_options={"epochs": 30, "batch_size": 8, "lr": 0.01, "threads": 1, "patience": 0})
    out = tmp_path_factory.mktemp("runs") / "sasrec"
    train(spec, out=out, progress=False, dataset=Dataset(name="cycle", interactions=inter))
    run = load_run(out)
    assert run.model.config.time_buckets == 64 and run.model.history_times.abs().sum() > 0  # saved and loaded with the weights
    return run


def test_timestamps_reach_a_time_aware_model_and_bad_ones_are_refused(timed_run, seq_run):
    from deeprecs.retrieval.foldin import recommend_liked

    client = TestClient(create_app(timed_run))
    liked, times = [103, 104, 105], [0, 60, 4_000_000]
    with_times = client.post("/recommendations", json={"liked": liked, "timestamps": times, "k": 5})
    assert with_times.status_code == 200, with_times.text
    body = with_times.json()
    idx = [timed_run.item_map.index(x) for x in liked]
    items, scores = recommend_liked(timed_run.model, [idx], 5, times=[times])
    assert [r["item"] for r in body["recommendations"]] == [100 + int(i) for i in items[0]]
    assert [r["score"] for r in body["recommendations"]] == pytest.approx(scores[0].tolist(), rel=1e-5)
    untimed = client.post("/recommendations", json={"liked": liked, "k": 5}).json()  # the order alone: other scores
    assert [r["score"] for r in untimed["recommendations"]] != pytest.approx([r["score"] for r in body["recommendations"]], rel=1e-4)
    for bad in ({"liked": liked, "timestamps": [0, 1]}, {"liked": liked, "timestamps": [5, 1, 9]}, {"timestamps": [1, 2, 3]},
                {"liked": liked, "timestamps": [1, 2, 3], "features": {}}, {"liked": liked, "timestamps": [1.5, 2, 3]},
                {"liked": liked, "timestamps": [0, 1, 10**30]}):
        answer = client.post("/recommendations", json=bad)
        assert answer.status_code == 422, (bad, answer.text)
    assert client.post("/recommendations", json={"liked": liked}).status_code == 200  # nothing was lost
    answer = TestClient(create_app(seq_run)).post("/recommendations", json={"liked": liked, "timestamps": [1, 2, 3]})
    assert answer.status_code == 200  # GRU4Rec reads the order alone: the times are valid, and not needed
