"""``kill -9`` of ``deeprecs export`` at 20 seeded random moments: after every one the current
version is complete (every user, ``k`` rows each, its catalogue), a reader running alongside
never sees anything else, and the store takes the next export.

The run is synthetic and untrained (20,000 users x 500 items, random MF weights: only the sizes
matter here): scoring and writing its 1,000,000 rows takes ~1.5 s. Each kill comes at a seeded
uniform moment of that phase (plus 15% past its end), timed from when the new version's row
appears, so kills land while it scores, writes, commits and exits; the test counts each kind.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from deeprecs.data.interactions import Interactions
from deeprecs.models import build_model
from deeprecs.runs import save_run
from deeprecs.store import RecStore, list_versions, make_engine, prune

N_USERS, N_ITEMS, K, TRIALS, SEED = 20_000, 500, 50, 20, 28


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(N_USERS), 5)
    train = Interactions.from_raw([f"u{u}" for u in users], rng.integers(0, N_ITEMS, len(users)).tolist())
    torch.manual_seed(0)
    model = build_model("mf", len(train.user_map), len(train.item_map), factors=8)
    config = {"model": "mf", "task": "ranking", "data": "synthetic", "dataset": "synthetic"}
    return save_run(tmp_path_factory.mktemp("kills") / "big", model, config, train)


def _export(run, url: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deeprecs.cli.main", "-q", "export", str(run), "--db", url, "-k", str(K)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_new_version(url: str, known: set[int], proc: subprocess.Popen) -> float:
    """When ``proc`` has written its version's row (its export has begun)."""
    engine = make_engine(url)
    try:
        while True:
            try:
                if {v.version for v in list_versions(engine)[0]} - known:
                    return time.monotonic()
            except SQLAlchemyError:  # no tables yet: the first export has not created them
                pass
            assert proc.poll() is None, "export ended before it began writing"
            time.sleep(0.005)
    finally:
        engine.dispose()


def assert_current_is_complete(url: str) -> int:
    """The current version's number, after checking that it holds all of it."""
    engine = make_engine(url)
    try:
        versions, current = list_versions(engine)
        info = next(v for v in versions if v.version == current)
        assert info.status == "complete" and info.n_rows == N_USERS * K
        with engine.connect() as conn:
            per_user = conn.execute(text(f"SELECT COUNT(*), MIN(n), MAX(n) FROM (SELECT user_id, COUNT(*) AS n, "
                                         f"MAX(rank) AS r FROM recs_v{current} GROUP BY user_id)")).one()
            items = conn.execute(text("SELECT COUNT(*) FROM items WHERE version = :v"), {"v": current}).scalar()
        assert tuple(per_user) == (N_USERS, K, K) and items == N_ITEMS
        return current
    finally:
        engine.dispose()


class Reader(threading.Thread):
    """Looks up random users of the store as fast as it can, counting answers that are not whole."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.store = RecStore(url, refresh_seconds=0.0)
        self.stop, self.reads, self.bad = threading.Event(), 0, []

    def run(self) -> None:
        rng = random.Random(0)
        while not self.stop.is_set():
            user = f"u{rng.randrange(N_USERS)}"
            try:
                hit = self.store.lookup(user, K)
                if hit is None or len(hit[1]) != K or hit[0].status != "complete":
                    self.bad.append((user, hit and len(hit[1])))
            except Exception as exc:  # noqa: BLE001 - every failure counts
                self.bad.append((user, repr(exc)))
            self.reads += 1
            time.sleep(0.002)


def test_kill_9_at_random_moments_leaves_a_complete_current_version(big_run, tmp_path):
    url = f"sqlite:///{tmp_path / 'recs.db'}"
    proc = _export(big_run, url)
    started = _wait_for_new_version(url, set(), proc)
    assert proc.wait(timeout=120) == 0
    phase = time.monotonic() - started  # from the version's row to the command's exit
    current = assert_current_is_complete(url)
    reader = Reader(url)
    reader.start()
    rng = random.Random(SEED)
    phases = {"before": 0, "during": 0, "after": 0}
    try:
        for _ in range(TRIALS):
            before = {v.version for v in list_versions(make_engine(url))[0]}
            proc = _export(big_run, url)
            delay = rng.uniform(0, 1.15 * phase)
            _wait_for_new_version(url, before, proc)
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            versions, _ = list_versions(make_engine(url))
            new = [v for v in versions if v.version not in before]
            now = assert_current_is_complete(url)
            phases["before" if not new else "after" if now == new[0].version else "during"] += 1
            assert now in (current, *(v.version for v in new))  # the old version, or the new one whole
            current = now
    finally:
        reader.stop.set()
        reader.join(timeout=10)
    print(f"{TRIALS} kills over a {phase:.1f} s export: {phases}; reader: {reader.reads} lookups, {len(reader.bad)} bad")
    assert sum(phases.values()) == TRIALS and phases["during"] >= TRIALS // 2, phases  # the kills hit the write
    assert reader.reads > 100 and reader.bad == []
    assert _export(big_run, url).wait(timeout=120) == 0  # the store takes the next export
    final = assert_current_is_complete(url)
    prune(url, keep=1, stale_after=0)  # killed exports' rows go; no half-written table was left
    versions, current = list_versions(make_engine(url))
    assert [v.version for v in versions] == [final] == [current]
