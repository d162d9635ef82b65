"""Hostile input: bodies over the limit get 413 before they are read, 422s do not echo large
inputs back, ids are integers or short strings."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from deeprecs.service import create_app
from deeprecs.service.limits import MAX_BODY_BYTES, MAX_ERRORS, BodyLimit, shorten
from deeprecs.service.schemas import MAX_ID_CHARS, MAX_LIKED


@pytest.fixture(scope="module")
def client(run):
    return TestClient(create_app(run, api_key=""))


def test_body_over_the_limit_is_413_with_a_message(client):
    body = json.dumps({"liked": [100] * (MAX_BODY_BYTES // 4)}).encode()
    assert len(body) > MAX_BODY_BYTES
    r = client.post("/recommendations", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and f"{MAX_BODY_BYTES:,} bytes" in r.json()["detail"]
    assert client.post("/recommendations", json={"liked": [100, 101]}).status_code == 200


def _call(app, headers: list[tuple[bytes, bytes]], chunks):  # noqa: ANN001, ANN202
    """Run ``app`` on one POST whose body arrives as ``chunks``; returns (answers sent, chunks read)."""
    sent, read = [], [0]
    chunks = iter(chunks)

    async def receive():
        read[0] += 1
        chunk = next(chunks, None)
        return {"type": "http.request", "body": chunk or b"", "more_body": chunk is not None}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/recommendations", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent, read[0]


async def _reads_everything(scope, receive, send):
    while (await receive())["more_body"]:
        pass
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body():
    sent, read = _call(BodyLimit(_reads_everything, 1000), [(b"content-length", b"50000000")], iter(lambda: b"x" * 65536, None))
    assert sent[0]["status"] == 413 and read == 0
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit():
    endless = iter(lambda: b"x" * 1000, None)  # a client that never stops sending
    sent, read = _call(BodyLimit(_reads_everything, 10_000), [(b"transfer-encoding", b"chunked")], endless)
    assert sent[0]["status"] == 413 and read == 11
    sent, read = _call(BodyLimit(_reads_everything, 10_000), [], [b"x" * 1000] * 10)
    assert sent[0]["status"] == 200 and read == 11


def test_too_many_liked_items_get_a_short_answer(client):
    assert client.post("/recommendations", json={"liked": list(range(200_000))}).status_code == 413
    r = client.post("/recommendations", json={"liked": list(range(MAX_BODY_BYTES // 8))})  # fits the limit
    assert r.status_code == 422 and len(r.content) < 2000
    (error,) = r.json()["detail"]
    assert error["type"] == "too_long" and error["input"][:3] == [0, 1, 2] and "items in all" in error["input"][-1]


def test_422_lists_at_most_max_errors(client):
    r = client.post("/recommendations", json={"liked": [1.5] * MAX_LIKED})
    detail = r.json()["detail"]
    assert r.status_code == 422 and len(detail) == MAX_ERRORS + 1 and len(r.content) < 8000
    assert detail[-1]["type"] == "too_many_errors"


@pytest.mark.parametrize("liked", [[True], [1.5], ["x" * (MAX_ID_CHARS + 1)], [""], [[100]], [{"id": 100}]])
def test_ids_are_integers_or_short_strings(client, liked):
    assert client.post("/recommendations", json={"liked": liked}).status_code == 422


def test_long_path_ids_are_422_and_not_echoed(client):
    r = client.get("/users/" + "u" * 5000 + "/recommendations")
    assert r.status_code == 422 and len(r.content) < 1000


def test_shorten_keeps_small_values_and_cuts_large_ones():
    assert shorten([1, "a", {"b": None}]) == [1, "a", {"b": None}]
    assert shorten("y" * 10_000).endswith("(10,000 characters)") and len(shorten("y" * 10_000)) < 150
    assert len(shorten(dict.fromkeys(map(str, range(50)), 0))) == 11
    assert shorten(b"\xff" * 3) == "\ufffd" * 3


def test_timestamps_for_a_model_that_takes_liked_items_as_a_set_are_a_400(client, run):
    r = client.post("/recommendations", json={"liked": [100, 101], "timestamps": [1, 2]})
    assert r.status_code == 400 and "sequential" in r.json()["detail"] and run.model.name in r.json()["detail"]
    assert client.post("/recommendations", json={"liked": [100, 101]}).status_code == 200
