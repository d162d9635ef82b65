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
