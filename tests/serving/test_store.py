"""The store: export equals live top-K, versions flip atomically, failures leave the old version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from sqlalchemy import inspect

from deeprecs.retrieval import topk
from deeprecs.store import RecStore, export_run, list_versions, make_engine, normalize_url, prune
from deeprecs.store import writer


def test_normalize_url_maps_postgresql_to_psycopg():
    assert normalize_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"


def test_export_matches_live_topk(run, db_url):
    info = export_run(run, db_url, k=7, progress=False)
    assert (info.status, info.k, info.n_users) == ("complete", 7, len(run.user_map))
    store = RecStore(db_url)
    users = np.arange(len(run.user_map))
    items, scores = topk(run.model, users, 7, exclude=run.seen)
    for u in users:
        got_info, rows = store.lookup(str(run.user_map.raw[u]), 7)
        assert got_info.version == info.version
        keep = items[u] >= 0
        assert [r[0] for r in rows] == [str(x) for x in run.item_map.raw[items[u][keep]]]
        np.testing.assert_allclose([r[1] for r in rows], scores[u][keep], rtol=1e-6, atol=1e-7)
    assert store.lookup("u0", 8) is None  # more than stored: the caller goes live
    assert store.lookup("nobody", 3) is None
    assert store.titles(info.version)["100"] == "Item 100 (A)"


def test_new_version_becomes_current_and_prune_keeps_newest(run, db_url):
    versions = [export_run(run, db_url, k=3, progress=False).version for _ in range(3)]
    engine = make_engine(db_url)
    rows, current = list_versions(engine)
    assert current == versions[-1] and [r.version for r in rows] == versions[::-1]
    assert prune(engine, keep=1) == versions[:2][::-1]
    rows, current = list_versions(engine)
    assert [r.version for r in rows] == [versions[-1]] and current == versions[-1]
    tables = set(inspect(engine).get_table_names())
    assert f"recs_v{versions[-1]}" in tables and f"recs_v{versions[0]}" not in tables
    assert export_run(run, db_url, k=3, keep=1, progress=False).version == versions[-1] + 1
    assert len(list_versions(engine)[0]) == 1


def test_failed_export_leaves_previous_version_current(run, db_url, monkeypatch):
    first = export_run(run, db_url, k=5, progress=False)
    calls = {"n": 0}
    real = writer.write_rows

    def fail_after_first_batch(conn, table, batch):
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("disk on fire")
        real(conn, table, batch)

    monkeypatch.setattr(writer, "write_rows", fail_after_first_batch)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export_run(run, db_url, k=5, batch_size=10, progress=False)
    assert calls["n"] == 2
    store = RecStore(db_url)
    assert store.current().version == first.version
    assert len(store.lookup("u0", 5)[1]) == 5 and len(store.lookup("u79", 5)[1]) == 5
    rows, current = list_versions(make_engine(db_url))
    assert current == first.version and rows[0].status == "failed"
    assert f"recs_v{rows[0].version}" not in inspect(make_engine(db_url)).get_table_names()
    assert prune(db_url, keep=5) == [rows[0].version]


KILL_SCRIPT = """
import sys, time
from deeprecs.runs import load_run
from deeprecs.store import writer
real = writer.write_rows
def slow(conn, table, batch):
    real(conn, table, batch)
    print("wrote", flush=True)
    time.sleep(60)
writer.write_rows = slow
writer.export_run(load_run(sys.argv[1]), sys.argv[2], k=5, batch_size=10, progress=False)
"""


def test_kill_9_mid_export_leaves_previous_version_readable(run, run_path, sqlite_url):
    first = export_run(run, sqlite_url, k=5, progress=False)
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(run_path), sqlite_url],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout.readline().strip() == "wrote"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    store = RecStore(sqlite_url)
    assert store.current().version == first.version
    assert len(store.lookup("u30", 5)[1]) == 5
    second = export_run(run, sqlite_url, k=5, progress=False)  # the database is still writable
    assert second.version > first.version and RecStore(sqlite_url).current().version == second.version
