"""Fixtures for the serving tests: a tiny MF trained in-process on planted data, and PostgreSQL.

Planted data: users ``u0..u39`` like items 100..119 (block A), users ``u40..u79`` like items
200..219 (block B); each user likes 10 random items of their block. Items 300..304 nobody
likes. A model that learns anything ranks a user's unseen block items first.

PostgreSQL: tests marked ``postgres`` use ``$DEEPRECS_TEST_PG_URL``; when it is unset they are
skipped, unless ``$CI`` is set: then ``scripts/postgres.sh start`` starts a server (at the end
stopped and its data folder deleted, unless it was running before) and they run; `make test`
sets ``$DEEPRECS_TEST_PG_START`` to try the same and skips them only where the script cannot
start a server (no root to install PostgreSQL, say). A skip is never silent: the run ends with
``PostgreSQL tests SKIPPED (N): <reason>`` in bold red.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from deeprecs.runs import load_run
from planted import train_planted

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def run_path(tmp_path_factory) -> Path:
    return train_planted(tmp_path_factory.mktemp("runs") / "planted")


@pytest.fixture(scope="session")
def run(run_path):
    return load_run(run_path)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'recs.db'}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    url = os.environ.get("DEEPRECS_TEST_PG_URL")
    if url:
        yield url
        return
    required = bool(os.environ.get("CI"))
    if not (required or os.environ.get("DEEPRECS_TEST_PG_START")):
        pytest.skip("DEEPRECS_TEST_PG_URL is unset (export it from `scripts/postgres.sh start`, or run `make test`, which starts a server)")
    script = ROOT / "scripts" / "postgres.sh"
    already = subprocess.run([str(script), "status"], capture_output=True).returncode == 0
    started = subprocess.run([str(script), "start"], check=required, capture_output=True, text=True)
    if started.returncode != 0:
        why = (started.stderr.strip().splitlines() or [f"exit status {started.returncode}"])[-1]
        pytest.skip(f"PostgreSQL could not be started here (scripts/postgres.sh start: {why})")
    url = started.stdout.strip().splitlines()[-1]
    yield url
    if not already:  # ours: stop it and delete its data folder (outside the checkout, in /tmp)
        subprocess.run([str(script), "clean"], check=False, capture_output=True)


_PG_SKIPPED: list[str] = []


def pytest_runtest_logreport(report) -> None:  # noqa: ANN001 - pytest's TestReport
    """Collect the reasons of skipped ``postgres`` tests."""
    if report.skipped and "postgres" in report.keywords:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _PG_SKIPPED.append(reason.removeprefix("Skipped: "))


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001 - pytest's TerminalReporter
    """One loud line when any PostgreSQL test was skipped, so that no skip goes unnoticed."""
    if _PG_SKIPPED:
        reasons = "; ".join(dict.fromkeys(_PG_SKIPPED))
        terminalreporter.write_line(f"PostgreSQL tests SKIPPED ({len(_PG_SKIPPED)}): {reasons}", red=True, bold=True)


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database on the test server (dropped afterwards)."""
    import psycopg

    from deeprecs.store import normalize_url

    base = pg_server.replace("postgresql+psycopg://", "postgresql://")
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    head, _, _ = base.rpartition("/")
    yield normalize_url(f"{head}/{name}")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """Each store test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
