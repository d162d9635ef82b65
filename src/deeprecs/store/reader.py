"""Read the current export: one indexed lookup per user, the pointer re-read at most once a second.

A store that cannot be read (a SQLite file locked by another process, missing or replaced; a
PostgreSQL server down) raises :class:`StoreUnavailable` instead of answering as if it held
nothing: the service turns it into ``503``. The failure is remembered for ``refresh_seconds``
(requests meanwhile fail at once, without touching the database), then the store is tried again,
so answers come back within about a second of the database doing so.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from deeprecs.errors import DeeprecsError
from deeprecs.store.schema import ExportInfo, current_export, exports, items, make_engine, recs_table_name, sqlite_path

log = logging.getLogger("deeprecs")

#: how long a reader waits for a SQLite lock before the store counts as unavailable
READ_BUSY_TIMEOUT_MS = 250


class StoreUnavailable(DeeprecsError):
    """The store's database cannot be read right now (locked, missing, down)."""


def _reason(exc: BaseException) -> str:
    """The database's own one-line reason, without SQLAlchemy's SQL echo and links."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return first[:200]


def _no_tables(exc: SQLAlchemyError) -> bool:
    """A store nobody has exported to yet (its tables do not exist): empty, not broken."""
    orig = getattr(exc, "orig", None)
    return "no such table" in str(orig) or getattr(orig, "sqlstate", None) == "42P01"


class _FileWatch:
    """A SQLite store's file: missing means unavailable; replaced means the pooled connections,
    which still read the old file, must go."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.identity: tuple[int, int] | None = None

    def check(self, engine: Engine) -> None:
        try:
            st = os.stat(self.path)
        except OSError:
            if self.identity is not None:
                engine.dispose()
            self.identity = None
            raise StoreUnavailable("its database file is missing") from None
        identity = (st.st_dev, st.st_ino)
        if self.identity is not None and identity != self.identity:
            engine.dispose()
        self.identity = identity


class RecStore:
    """Reader of a recommendation store.

    ``current()`` is cached for ``refresh_seconds``, so a new export becomes visible to a
    running server within that time, while a request costs one primary-key range scan.
    """

    def __init__(self, db: str | Engine, refresh_seconds: float = 1.0, busy_timeout_ms: int = READ_BUSY_TIMEOUT_MS) -> None:
        path = sqlite_path(db) if isinstance(db, str) else None
        self.engine = make_engine(db, busy_timeout_ms, must_exist=True) if isinstance(db, str) else db
        self.refresh_seconds = refresh_seconds
        self._watch = _FileWatch(path) if path is not None else None
        self._current: ExportInfo | None = None
        self._failure: str | None = None
        self._checked = float("-inf")
        self._titles: dict[int, dict[str, str]] = {}
        self._lock = threading.Lock()

    def current(self, refresh: bool = False) -> ExportInfo | None:
        """The export readers should use, or ``None`` when the store holds none (or no tables yet);
        :class:`StoreUnavailable` when the database cannot be read."""
        now = time.monotonic()
        if refresh or now - self._checked > self.refresh_seconds:
            self._checked = now
            self._refresh()
        if self._failure is not None:
            raise StoreUnavailable(f"the recommendation store is unavailable ({self._failure}); try again shortly")
        return self._current

    def _refresh(self) -> None:
        row, failure = None, None
        try:
            if self._watch is not None:
                self._watch.check(self.engine)
            with self.engine.connect() as conn:
                row = conn.execute(select(exports).join(current_export, current_export.c.version == exports.c.version)
                                   .where(current_export.c.id == 1)).mappings().first()
        except StoreUnavailable as exc:
            failure = str(exc)
        except SQLAlchemyError as exc:
            failure = None if _no_tables(exc) else _reason(exc)
        if failure != self._failure:
            (log.warning if failure else log.info)("recommendation store %s", f"unavailable: {failure}" if failure else "available again")
        self._failure = failure
        self._current = None if row is None else ExportInfo(**row)

    def lookup(self, user_id: str, k: int) -> tuple[ExportInfo, list[tuple[str, float]]] | None:
        """``(export, [(item_id, score), ...])`` best first (up to ``k``), or ``None`` when there
        is no current export, it holds fewer than ``k`` per user, or the user is not in it;
        :class:`StoreUnavailable` when the database cannot be read."""
        error: SQLAlchemyError | None = None
        for attempt in range(2):
            info = self.current(refresh=attempt > 0)
            if info is None or k > info.k:
                return None
            sql = text(f"SELECT item_id, score FROM {recs_table_name(info.version)} "
                       "WHERE user_id = :u AND rank <= :k ORDER BY rank")
            try:
                with self.engine.connect() as conn:
                    rows = conn.execute(sql, {"u": str(user_id), "k": k}).all()
            except SQLAlchemyError as exc:  # the version was pruned under us: re-read the pointer once
                error = exc
                continue
            return (info, [(r[0], float(r[1])) for r in rows]) if rows else None
        raise StoreUnavailable(f"the recommendation store is unavailable ({_reason(error)}); try again shortly")

    def titles(self, version: int) -> dict[str, str]:
        """``item_id -> title`` of one export (cached)."""
        with self._lock:
            if version not in self._titles:
                try:
                    with self.engine.connect() as conn:
                        rows = conn.execute(select(items.c.item_id, items.c.title).where(items.c.version == version)).all()
                except SQLAlchemyError as exc:
                    raise StoreUnavailable(f"the recommendation store is unavailable ({_reason(exc)}); try again shortly") from None
                self._titles = {version: dict(rows)}  # keep only the newest
            return self._titles[version]

    def close(self) -> None:
        self.engine.dispose()
