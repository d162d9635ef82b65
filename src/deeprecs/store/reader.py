"""Read the current export: one indexed lookup per user, the pointer re-read at most once a second."""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from deeprecs.store.schema import ExportInfo, current_export, exports, items, make_engine, recs_table_name


class RecStore:
    """Reader of a recommendation store.

    ``current()`` is cached for ``refresh_seconds``, so a new export becomes visible to a
    running server within that time, while a request costs one primary-key range scan.
    """

    def __init__(self, db: str | Engine, refresh_seconds: float = 1.0) -> None:
        self.engine = make_engine(db) if isinstance(db, str) else db
        self.refresh_seconds = refresh_seconds
        self._current: ExportInfo | None = None
        self._checked = float("-inf")
        self._titles: dict[int, dict[str, str]] = {}
        self._lock = threading.Lock()

    def current(self, refresh: bool = False) -> ExportInfo | None:
        """The export readers should use, or ``None`` when the store holds none (or no tables yet)."""
        now = time.monotonic()
        if refresh or now - self._checked > self.refresh_seconds:
            try:
                with self.engine.connect() as conn:
                    row = conn.execute(select(exports).join(current_export, current_export.c.version == exports.c.version)
                                       .where(current_export.c.id == 1)).mappings().first()
            except SQLAlchemyError:
                row = None
            self._current = None if row is None else ExportInfo(**row)
            self._checked = now
        return self._current

    def lookup(self, user_id: str, k: int) -> tuple[ExportInfo, list[tuple[str, float]]] | None:
        """``(export, [(item_id, score), ...])`` best first (up to ``k``), or ``None`` when there
        is no current export, it holds fewer than ``k`` per user, or the user is not in it."""
        for attempt in range(2):
            info = self.current(refresh=attempt > 0)
            if info is None or k > info.k:
                return None
            sql = text(f"SELECT item_id, score FROM {recs_table_name(info.version)} "
                       "WHERE user_id = :u AND rank <= :k ORDER BY rank")
            try:
                with self.engine.connect() as conn:
                    rows = conn.execute(sql, {"u": str(user_id), "k": k}).all()
            except SQLAlchemyError:  # the version was pruned under us: re-read the pointer once
                continue
            return (info, [(r[0], float(r[1])) for r in rows]) if rows else None
        return None

    def titles(self, version: int) -> dict[str, str]:
        """``item_id -> title`` of one export (cached)."""
        with self._lock:
            if version not in self._titles:
                with self.engine.connect() as conn:
                    rows = conn.execute(select(items.c.item_id, items.c.title).where(items.c.version == version)).all()
                self._titles = {version: dict(rows)}  # keep only the newest
            return self._titles[version]

    def close(self) -> None:
        self.engine.dispose()
