"""Tables of the recommendation store, engines, and the identity of a run.

Layout (SQLAlchemy Core, the same on SQLite and PostgreSQL)::

    exports          one row per export: version (PK), run_id, model, dataset, k, status, times
    current_export   a single row (id = 1) naming the version readers see
    items            (version, item_id) -> title, popularity: the catalogue of each export
    recs_v{N}        user_id, rank, item_id, score: export N's top-K lists, PK (user_id, rank)

An export writes its ``recs_v{N}`` table and ``items`` rows, marks itself complete and moves
the ``current_export`` pointer all in one transaction, so readers switch in one step and a
crash halfway leaves the previous version current and whole. Ids are stored as text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import (Column, Engine, Float, Integer, MetaData, SmallInteger, String, Table, Text,
                        create_engine, event, select)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

exports = Table(
    "exports", metadata,
    Column("version", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(200), nullable=False),
    Column("run_path", Text, nullable=False),
    Column("model", String(100), nullable=False),
    Column("dataset", String(200), nullable=False),
    Column("k", Integer, nullable=False),
    Column("n_users", Integer, nullable=False),
    Column("n_rows", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False),  # writing | complete | failed
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float),
)

current_export = Table(
    "current_export", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", Integer),
)

items = Table(
    "items", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("item_id", String(200), primary_key=True),
    Column("title", Text, nullable=False, default=""),
    Column("popularity", Integer, nullable=False, default=0),
)


def recs_table(version: int, primary_key: bool = True) -> Table:
    """The ``recs_v{version}`` table. ``primary_key=False`` leaves out the key, for loaders that
    add it after a bulk load (faster on PostgreSQL)."""
    return Table(
        recs_table_name(version), MetaData(),
        Column("user_id", String(200), primary_key=primary_key),
        Column("rank", SmallInteger, primary_key=primary_key, autoincrement=False),
        Column("item_id", String(200), nullable=False),
        Column("score", Float(precision=24), nullable=False),
        sqlite_with_rowid=False,
    )


def recs_table_name(version: int) -> str:
    return f"recs_v{int(version)}"


@dataclass(frozen=True)
class ExportInfo:
    version: int
    run_id: str
    run_path: str
    model: str
    dataset: str
    k: int
    n_users: int
    n_rows: int
    status: str
    created_at: float
    finished_at: float | None


def normalize_url(url: str) -> str:
    """``postgresql://`` / ``postgres://`` -> ``postgresql+psycopg://`` (psycopg 3); others unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_pragmas(dbapi_conn, _record, busy_timeout_ms: int = 30_000) -> None:  # noqa: ANN001 - DBAPI connection
    # pysqlite commits before DDL on its own; take over transactions (BEGIN is emitted by
    # _sqlite_begin) so that CREATE TABLE is part of an export's single transaction.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cur.execute("PRAGMA journal_mode=WAL")  # readers keep reading while an export writes
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _sqlite_begin(conn) -> None:  # noqa: ANN001 - Connection
    conn.exec_driver_sql("BEGIN")


def sqlite_path(url: str) -> str | None:
    """The database file of a ``sqlite:///FILE`` URL; ``None`` for other databases and in-memory SQLite."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:") or "uri" in parsed.query:
        return None
    return parsed.database


def make_engine(url: str, busy_timeout_ms: int = 30_000, must_exist: bool = False) -> Engine:
    """An engine for ``url`` with the store's connection settings (SQLite pragmas, psycopg 3).

    ``busy_timeout_ms``: how long a statement waits for a lock (SQLite), or a connection for the
    server (PostgreSQL, whole seconds). ``must_exist``: never create a SQLite file (readers)."""
    url = normalize_url(url)
    if make_url(url).get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if must_exist and path is not None:  # mode=rw: open read-write, fail where the file is missing
            url = make_url(url).set(database=f"file:{quote(path)}", query={"mode": "rw", "uri": "true"})
        engine = create_engine(url)
        event.listen(engine, "connect", partial(_sqlite_pragmas, busy_timeout_ms=busy_timeout_ms))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": max(1, -(-busy_timeout_ms // 1000))})


def create_schema(engine: Engine) -> None:
    """Create the fixed tables and the single pointer row, where missing."""
    metadata.create_all(engine, tables=[exports, current_export, items])
    try:
        with engine.begin() as conn:
            if conn.execute(select(current_export.c.id)).first() is None:
                conn.execute(current_export.insert().values(id=1, version=None))
    except IntegrityError:  # another writer inserted it first
        pass


def run_id(run_path: str | Path) -> str:
    """``<run folder name>-<sha256 of model.pt, 12 hex>``: names exactly these weights."""
    path = Path(run_path)
    digest = hashlib.sha256((path / "model.pt").read_bytes()).hexdigest()[:12]
    return f"{path.resolve().name}-{digest}"
