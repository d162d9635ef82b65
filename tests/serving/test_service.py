"""The HTTP API through the ASGI test client: every route, every error, the API key."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from planted import BLOCK_A
from deeprecs.service import create_app
from deeprecs.service.schemas import MAX_K, MAX_LIKED
from deeprecs.store import export_run


@pytest.fixture
def client(run):
    return TestClient(create_app(run))


@pytest.fixture
def store_client(run, db_url):
    export_run(run, db_url, k=10, progress=False)
    return TestClient(create_app(run, db_url))


def test_health_and_model(client):
    assert client.get("/health").json() == {"status": "ok"}
    info = client.get("/model").json()
    assert (info["model"], info["dataset"], info["n_users"], info["export_version"]) == ("mf", "planted", 80, None)
    assert info["metrics"] == {"hr@10": 1.0}
    assert "/users/{user_id}/recommendations" in client.get("/openapi.json").json()["paths"]


def test_user_recommendations_live_exclude_seen(client, run):
    body = client.get("/users/u3/recommendations", params={"k": 5}).json()
    assert (body["user"], body["k"], body["source"], body["version"]) == ("u3", 5, "live", None)
    items = [r["item"] for r in body["recommendations"]]
    assert [r["rank"] for r in body["recommendations"]] == [1, 2, 3, 4, 5]
    seen = set(run.item_map.raw[run.seen[run.user_index("u3")].indices].tolist())
    assert not seen & set(items) and np.isin(items, BLOCK_A).mean() >= 0.8
    assert body["recommendations"][0]["title"].startswith("Item ")


def test_store_answers_equal_live_answers(store_client, run):
    live = TestClient(create_app(run))
    assert store_client.get("/model").json()["export_version"] is not None
    for user in run.user_map.raw.tolist():
        s = store_client.get(f"/users/{user}/recommendations", params={"k": 10}).json()
        v = live.get(f"/users/{user}/recommendations", params={"k": 10}).json()
        assert s["source"] == "store" and v["source"] == "live"
        assert [r["item"] for r in s["recommendations"]] == [r["item"] for r in v["recommendations"]]
        assert [r["title"] for r in s["recommendations"]] == [r["title"] for r in v["recommendations"]]
        np.testing.assert_allclose([r["score"] for r in s["recommendations"]], [r["score"] for r in v["recommendations"]], rtol=1e-5, atol=1e-6)
    assert store_client.get("/users/u1/recommendations", params={"k": 11}).json()["source"] == "live"


def test_store_of_another_run_is_not_used(run, run_path, sqlite_url, tmp_path):
    from planted import train_planted
    from deeprecs.runs import load_run

    other = load_run(train_planted(tmp_path / "other", seed=1))
    export_run(other, sqlite_url, k=10, progress=False)
    body = TestClient(create_app(run, sqlite_url)).get("/users/u1/recommendations").json()
    assert body["source"] == "live"


def test_ann_path(run):
    client = TestClient(create_app(run, ann=True))
    body = client.get("/users/u40/recommendations", params={"k": 5}).json()
    exact = TestClient(create_app(run)).get("/users/u40/recommendations", params={"k": 5}).json()
    assert body["source"] == "ann" and client.get("/model").json()["ann"] is True
    assert [r["item"] for r in body["recommendations"]] == [r["item"] for r in exact["recommendations"]]


def test_similar_items(client):
    body = client.get("/items/105/similar", params={"k": 5}).json()
    assert body["item"] == 105 and body["title"] == "Item 105 (A)"
    items = [r["item"] for r in body["similar"]]
    assert 105 not in items and np.isin(items, BLOCK_A).mean() >= 0.8


def test_fold_in_route(client):
    body = client.post("/recommendations", json={"liked": [100, 101, "102"], "k": 8}).json()
    items = [r["item"] for r in body["recommendations"]]
    assert body["liked"] == [100, 101, 102] and len(items) == 8
    assert not {100, 101, 102} & set(items) and np.isin(items, BLOCK_A).mean() >= 0.8


@pytest.mark.parametrize("method, url, payload", [
    ("get", "/users/nobody/recommendations", None),
    ("get", "/items/999999/similar", None),
    ("get", "/items/not-an-item/similar", None),
    ("post", "/recommendations", {"liked": [100, 424242]}),
])
def test_unknown_ids_are_404(client, method, url, payload):
    r = client.request(method, url, json=payload)
    assert r.status_code == 404 and "unknown" in r.json()["detail"]


@pytest.mark.parametrize("method, url, payload", [
    ("get", "/users/u1/recommendations?k=0", None),
    ("get", "/users/u1/recommendations?k=-3", None),
    ("get", f"/users/u1/recommendations?k={MAX_K + 1}", None),
    ("get", "/users/u1/recommendations?k=ten", None),
    ("get", "/items/100/similar?k=0", None),
    ("get", f"/items/100/similar?k={MAX_K + 1}", None),
    ("post", "/recommendations", {"liked": []}),
    ("post", "/recommendations", {"liked": [100], "k": 0}),
    ("post", "/recommendations", {"liked": [100], "k": MAX_K + 1}),
    ("post", "/recommendations", {"liked": [100] * (MAX_LIKED + 1)}),
    ("post", "/recommendations", {"liked": "100"}),
    ("post", "/recommendations", {"liked": [100], "extra": 1}),
    ("post", "/recommendations", {"k": 3}),
])
def test_bad_parameters_are_422(client, method, url, payload):
    assert client.request(method, url, json=payload).status_code == 422


def test_malformed_body_is_422(client):
    r = client.post("/recommendations", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert client.get("/health").status_code == 200  # still serving


def test_unexpected_errors_are_500_and_the_server_goes_on(run, monkeypatch):
    client = TestClient(create_app(run), raise_server_exceptions=False)
    monkeypatch.setattr(client.app.state.service, "similar", lambda *a: 1 / 0)
    r = client.get("/items/100/similar")
    assert r.status_code == 500 and r.json() == {"detail": "internal error"}
    assert client.get("/users/u1/recommendations").status_code == 200


def test_api_key_guards_every_route_but_health(run, monkeypatch):
    monkeypatch.setenv("DEEPRECS_API_KEY", "s3cret")
    client = TestClient(create_app(run))
    assert client.get("/health").status_code == 200
    routes = [("get", "/model", None), ("get", "/users/u1/recommendations", None),
              ("get", "/items/100/similar", None), ("post", "/recommendations", {"liked": [100]})]
    for method, url, payload in routes:
        assert client.request(method, url, json=payload).status_code == 401
        bad = client.request(method, url, json=payload, headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
        ok = client.request(method, url, json=payload, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
