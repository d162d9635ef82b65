"""The store's database locked, missing, replaced or down while the service runs: 503 on the
route it backs, every other route keeps answering, and answers come back once it does."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from deeprecs.service import create_app
from deeprecs.store import RecStore, StoreUnavailable, export_run

REFRESH = 0.05  # seconds the store's state is trusted (the server's default is 1)


def _client(run, url: str) -> TestClient:
    return TestClient(create_app(run, RecStore(url, refresh_seconds=REFRESH), api_key=""))


def _user(client: TestClient, user: str = "u3"):  # noqa: ANN202
    return client.get(f"/users/{user}/recommendations", params={"k": 5})


def _others_still_work(client: TestClient, store_state: str) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/items/105/similar", params={"k": 3}).status_code == 200
    assert client.post("/recommendations", json={"liked": [100, 101]}).status_code == 200
    assert client.get("/model").json()["store"] == store_state


def _eventually(client: TestClient, source: str, user: str = "u3", version: int | None = None) -> dict:
    """The first 200 answer from ``source`` (and export ``version``), within 5 s."""
    deadline = time.monotonic() + 5
    while True:
        r = _user(client, user)
        if r.status_code == 200 and r.json()["source"] == source and version in (None, r.json()["version"]):
            return r.json()
        assert time.monotonic() < deadline, r.text
        time.sleep(REFRESH)


def _assert_503(client: TestClient, fragment: str) -> None:
    time.sleep(2 * REFRESH)
    r = _user(client)
    assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
    assert fragment in r.json()["detail"] and r.json()["detail"].count("\n") == 0


@pytest.fixture
def db(run, tmp_path) -> Path:
    export_run(run, f"sqlite:///{tmp_path / 'recs.db'}", k=10, progress=False)
    return tmp_path / "recs.db"


def test_an_exclusive_write_transaction_elsewhere_does_not_stop_reads(run, db):
    client = _client(run, f"sqlite:///{db}")
    before = _eventually(client, "store")
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    writer.execute("DELETE FROM recs_v1")  # uncommitted: WAL readers keep the committed version
    try:
        time.sleep(2 * REFRESH)
        assert _user(client, "u7").json()["recommendations"] == _eventually(client, "store", "u7")["recommendations"]
        assert _user(client).json() == before
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_locked_database_is_503_and_recovers_when_unlocked(run, db):
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("PRAGMA locking_mode=EXCLUSIVE")
    locker.execute("BEGIN EXCLUSIVE")  # taken before the server opened the file: it cannot read at all
    client = _client(run, f"sqlite:///{db}")
    try:
        start = time.monotonic()
        _assert_503(client, "database is locked")
        assert time.monotonic() - start < 2  # the wait for a lock is short: no request hangs
        _others_still_work(client, "unavailable")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert _eventually(client, "store")["version"] == 1
    _others_still_work(client, "ok")


def test_a_missing_database_file_is_503_and_recovers_when_it_returns(run, db):
    client = _client(run, f"sqlite:///{db}")
    _eventually(client, "store")
    db.rename(db.with_name("moved.db"))  # pooled connections could still read it: the file is what counts
    _assert_503(client, "database file is missing")
    _others_still_work(client, "unavailable")
    assert not db.exists()  # a reader never creates an empty database in its place
    db.with_name("moved.db").rename(db)
    assert _eventually(client, "store")["version"] == 1


def test_a_replaced_database_file_is_read_afresh(run, db, tmp_path):
    client = _client(run, f"sqlite:///{db}")
    assert _eventually(client, "store")["version"] == 1
    fresh = tmp_path / "fresh.db"
    for _ in range(3):
        info = export_run(run, f"sqlite:///{fresh}", k=10, progress=False)
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    fresh.replace(db)  # the old file's pooled connections must not keep serving it
    assert info.version == 3 and _eventually(client, "store", version=3)["version"] == 3


def test_a_database_that_is_not_a_database_is_503(run, db):
    client = _client(run, f"sqlite:///{db}")
    _eventually(client, "store")
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    db.unlink()
    db.write_bytes(b"garbage" * 1000)
    _assert_503(client, "unavailable")
    _others_still_work(client, "unavailable")


def test_a_postgresql_server_that_is_down_is_503(run):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    client = _client(run, f"postgresql://nobody@127.0.0.1:{port}/recs")
    _assert_503(client, "unavailable")
    _others_still_work(client, "unavailable")


def test_a_failure_is_remembered_for_refresh_seconds(run, db, monkeypatch):
    store = RecStore(f"sqlite:///{db}", refresh_seconds=60)
    db.rename(db.with_name("moved.db"))
    with pytest.raises(StoreUnavailable):
        store.current()
    calls = []
    monkeypatch.setattr(store, "_refresh", lambda: calls.append(1))
    with pytest.raises(StoreUnavailable, match="missing"):
        store.current()  # within refresh_seconds: no new attempt on the database
    assert calls == []


def test_an_empty_database_is_not_an_outage(run, tmp_path):
    sqlite3.connect(tmp_path / "empty.db").close()  # a store nobody has exported to yet
    client = _client(run, f"sqlite:///{tmp_path / 'empty.db'}")
    assert _eventually(client, "live")["version"] is None
    assert client.get("/model").json()["store"] == "ok"
