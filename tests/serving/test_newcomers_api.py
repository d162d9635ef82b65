"""Newcomers given by features through the HTTP API: a new user (``POST /recommendations`` with
``features``, optionally ``liked``) answers exactly as ``deeprecs recommend --new-user``, a new item
(``POST /new-item/similar``, ``POST /new-item/users``) as ``deeprecs similar --new-item``, live from
the run also where a store serves the known users; unknown columns and values are 422 with what is
accepted, features for a run without them 400."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from deeprecs.cli.main import cli
from deeprecs.pipeline import TrainSpec, train
from deeprecs.runs import load_run
from deeprecs.service import create_app
from deeprecs.store import export_run

N_USERS, N_ITEMS = 30, 24


@pytest.fixture(scope="module")
def features_run(tmp_path_factory, write_ml):
    """An fm run on the tiny MovieLens folder (users who like the items of their own parity), with a
    users table (parity, age) and an items table (parity)."""
    root = tmp_path_factory.mktemp("newcomers")
    users, items = root / "users.csv", root / "items.csv"
    users.write_text("uid,parity,age\n" + "".join(f"{u},{'odd' if u % 2 else 'even'},{18 + u}\n" for u in range(1, N_USERS + 1)))
    items.write_text("iid,parity,tags\n" + "".join(f"{i},{'odd' if i % 2 else 'even'},{'a|b' if i % 3 else 'c'}\n"
                                                    for i in range(1, N_ITEMS + 1)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPRECS_HOME", str(root / "home"))
        spec = TrainSpec(model="fm", data=str(write_ml(root / "ml")), task="ranking", positive=4, seed=0,
                         user_features=str(users), user_feature_columns="parity=categorical,age=bucket:3",
                         item_features=str(items), item_feature_columns="parity=categorical,tags=multi:|",
                         model_options={"factors": 4, "implicit": True},
                         train_options={"epochs": 3, "batch_size": 64, "threads": 1})
        train(spec, out=root / "run", progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def client(features_run):
    return TestClient(create_app(load_run(features_run)))


def cli_json(*args) -> dict:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    return out[0] if isinstance(out, list) else out


def test_model_lists_the_feature_columns_newcomers_name(client):
    info = client.get("/model").json()
    assert info["user_features"] == ["parity=categorical", "age=bucket:3"]
    assert info["item_features"] == ["parity=categorical", "tags=multi:|"]
    examples = client.get("/openapi.json").json()["paths"]["/recommendations"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    example = examples["a new user given by features"]["value"]
    assert client.post("/recommendations", json=example).status_code == 200  # /docs starts from a request that works


@pytest.mark.parametrize("liked", [[], [1, 3]])
def test_a_new_user_gets_the_list_deeprecs_recommend_new_user_gives(client, features_run, liked):
    body = client.post("/recommendations", json={"features": {"parity": "odd", "age": 30}, "k": 6, **({"liked": liked} if liked else {})}).json()
    args = ["recommend", features_run, "--new-user", "parity=odd,age=30", "-k", "6", "--json"]
    want = cli_json(*args, *(["--liked", ",".join(map(str, liked))] if liked else []))["recommendations"]
    assert body["source"] == "features" and body["liked"] == liked and body["features"] == {"parity": "odd", "age": 30}
    assert body["recommendations"] == want and len(want) == 6
    assert not set(liked) & {r["item"] for r in want}


def test_a_new_item_gets_the_lists_deeprecs_similar_new_item_gives(client, features_run):
    query = {"features": {"parity": "even", "tags": ["a", "b"]}, "k": 4}
    similar, users = (client.post(f"/new-item/{what}", json=query).json() for what in ("similar", "users"))
    want = cli_json("similar", features_run, "--new-item", "parity=even,tags=a|b", "-k", "4", "--json")
    assert similar == {"features": query["features"], "k": 4, "similar": want["similar"]}
    assert users == {"features": query["features"], "k": 4, "users": want["users"]}
    assert [u["rank"] for u in users["users"]] == [1, 2, 3, 4] and len({u["user"] for u in users["users"]}) == 4
    # a multi-valued column's values joined by its separator are the same description
    assert client.post("/new-item/similar", json={**query, "features": {"parity": "even", "tags": "a|b"}}).json()["similar"] == want["similar"]


def test_newcomers_are_scored_live_where_a_store_serves_the_known_users(features_run, sqlite_url, client):
    run = load_run(features_run)
    export_run(run, sqlite_url, k=5, progress=False)
    stored = TestClient(create_app(run, sqlite_url))
    user = next(iter(run.user_map.raw.tolist()))
    assert stored.get(f"/users/{user}/recommendations", params={"k": 5}).json()["source"] == "store"
    query = {"features": {"parity": "even"}, "k": 5}
    assert stored.post("/recommendations", json=query).json() == client.post("/recommendations", json=query).json()
    assert stored.post("/new-item/users", json=query).json() == client.post("/new-item/users", json=query).json()


@pytest.mark.parametrize("url, payload, fragment", [
    ("/recommendations", {"features": {"colour": "red"}}, "unknown user feature column(s) colour; the run's are parity, age"),
    ("/recommendations", {"features": {"parity": "prime"}}, "unknown user feature value parity='prime'; accepted: even, odd"),
    ("/recommendations", {"features": {"age": "old"}}, "user feature age takes a number, got 'old'"),
    ("/new-item/similar", {"features": {"tags": ["a", "zz"]}}, "unknown item feature value tags='zz'; accepted (several joined by '|' "
                                                               "or as a list): a, b, c"),
    ("/new-item/users", {"features": {"genre": "x"}}, "unknown item feature column(s) genre"),
])
def test_unknown_feature_columns_and_values_are_422_saying_what_is_accepted(client, url, payload, fragment):
    r = client.post(url, json=payload)
    assert r.status_code == 422
    assert fragment in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize("payload", [{}, {"liked": []}, {"features": {"parity": "odd"}, "liked": []}, {"features": None}, {"features": {"parity": {"a": 1}}},
                                     {"features": {"parity": True}}, {"features": {"parity": "odd"}, "extra": 1},
                                     {"features": {"parity": "odd"}, "k": 0}])
def test_bad_bodies_are_422(client, payload):
    assert client.post("/recommendations", json=payload).status_code == 422


def test_new_item_bodies_need_features(client):
    assert client.post("/new-item/similar", json={"k": 3}).status_code == 422
    assert client.post("/new-item/users", json={"features": {"parity": "odd"}, "liked": [1]}).status_code == 422


def test_a_run_without_features_answers_400_saying_so(run):
    plain = TestClient(create_app(run))  # the planted mf run: ids only
    for url in ("/recommendations", "/new-item/similar", "/new-item/users"):
        r = plain.post(url, json={"features": {"age": 30}})
        assert r.status_code == 400 and "has no" in r.json()["detail"] and "features" in r.json()["detail"]
    assert plain.post("/recommendations", json={"liked": [100]}).json()["source"] == "fold-in"  # unchanged
    assert plain.get("/model").json()["user_features"] == []


# ------------------------------------------------------------------ the store: new items exported by features
def new_items_file(path, bad_line: str | None = None):
    rows = ["iid,parity,tags,title", "n1,odd,a,New odd", "n2,even,c|b,New even", "n3,,,"]
    if bad_line:
        rows.insert(2, bad_line)
    path.write_text("\n".join(rows) + "\n")
    return path


def test_export_new_items_ranks_them_among_the_runs_items_by_their_features(features_run, sqlite_url, tmp_path):
    import numpy as np
    import torch

    from deeprecs.batch import Batch
    from deeprecs.retrieval.newcomers import feature_bag, read_new_items
    from deeprecs.store import RecStore

    run = load_run(features_run)
    new = read_new_items(run, new_items_file(tmp_path / "new.csv"))
    export_run(run, sqlite_url, k=6, progress=False, new_items=new)
    store = RecStore(sqlite_url)
    described = [{"parity": "odd", "tags": "a"}, {"parity": "even", "tags": ["c", "b"]}, {}]
    raw = np.concatenate([run.item_map.raw.astype(str), ["n1", "n2", "n3"]])
    hits = 0
    for u, user in enumerate(run.user_map.raw.tolist()):
        with torch.no_grad():  # the obvious way: every item's score, each new item scored alone by its description
            scores = run.model.score_all(Batch(torch.tensor([u])))[0].numpy()
            extra = [float(run.model(Batch(torch.tensor([u]), torch.tensor([-1]), item_features=feature_bag(run, "item", d)))[0])
                     for d in described]
        scores = np.concatenate([scores, extra])
        scores[run.seen[u].indices] = -np.inf
        want = np.argsort(-scores, kind="stable")[:6]
        _, rows = store.lookup(str(user), 6)
        assert [i for i, _ in rows] == raw[want].tolist()
        np.testing.assert_allclose([s for _, s in rows], scores[want], rtol=1e-5, atol=1e-6)
        hits += bool({"n1", "n2", "n3"} & {i for i, _ in rows})
    assert hits > 0  # some user's list holds a new item
    user = next(u for u in run.user_map.raw.tolist() if {"n1", "n2"} & {i for i, _ in store.lookup(str(u), 6)[1]})
    body = TestClient(create_app(run, sqlite_url)).get(f"/users/{user}/recommendations", params={"k": 6}).json()
    assert body["source"] == "store" and {"New odd", "New even"} & {r["title"] for r in body["recommendations"]}


@pytest.mark.parametrize("bad, fragment", [("n9,prime,a,x", "new.csv:3: unknown item feature value parity='prime'; accepted: even, odd"),
                                           ("5,odd,a,x", "new.csv:3: item '5' is an item of the run already")])
def test_export_new_items_refuses_a_bad_file_in_one_line_and_writes_nothing(features_run, tmp_path, bad, fragment):
    db = tmp_path / "recs.db"
    result = CliRunner().invoke(cli, ["export", str(features_run), "--db", f"sqlite:///{db}", "--new-items",
                                      str(new_items_file(tmp_path / "new.csv", bad))])
    assert result.exit_code == 1 and result.stderr.strip().splitlines() == [f"error: {result.stderr.strip()[7:]}"]
    assert fragment in result.stderr and not db.exists()
