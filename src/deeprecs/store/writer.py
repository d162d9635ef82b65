"""Precompute every user's top-K unseen items and write them to the store, atomically.

``export_run`` scores users in batches (one matrix product + ``torch.topk`` per batch, through
:func:`deeprecs.retrieval.topk`), and bulk-loads the rows: SQLite ``executemany`` inside one
transaction, PostgreSQL ``COPY ... FROM STDIN`` through psycopg's ``cursor.copy``. The table,
the items, the ``complete`` mark and the ``current_export`` pointer are written in that one
transaction: readers see the old version until the commit and the new one right after it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from tqdm import tqdm

from deeprecs.retrieval import topk
from deeprecs.runs import Run
from deeprecs.store.schema import (ExportInfo, create_schema, current_export, exports, items, make_engine,
                                   recs_table, recs_table_name, run_id)

if TYPE_CHECKING:
    from deeprecs.retrieval.newcomers import NewItems

log = logging.getLogger("deeprecs")


@dataclass
class Batch:
    """One batch of rows, as parallel columns: text ids, ranks from 1, float32 scores."""

    users: np.ndarray
    ranks: np.ndarray
    items: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.users)


def _as_text(raw: np.ndarray) -> np.ndarray:
    return np.array([str(x) for x in raw.tolist()], dtype=object)


def iter_batches(run: Run, k: int, batch_size: int = 2048, progress: bool = True, new_items: NewItems | None = None) -> Iterator[Batch]:
    """Top-``k`` unseen items of every user of ``run``, ``batch_size`` users at a time; with
    ``new_items``, among the run's items and those (scored by their features)."""
    user_ids, item_ids = _as_text(run.user_map.raw), _as_text(run.item_map.raw)
    if new_items is not None:
        item_ids = np.concatenate([item_ids, new_items.ids])
    n_users = len(run.user_map)
    seen = run.seen
    # Users in the text order of their ids, so that rows arrive in primary-key order and a
    # B-tree load appends instead of splitting pages.
    order = np.argsort(user_ids.astype(str), kind="stable")
    with tqdm(total=n_users, desc="export", unit="user", disable=None if progress else True, leave=False) as bar:
        for start in range(0, n_users, batch_size):
            users = order[start : start + batch_size]
            top, scores = topk(run.model, users, k, exclude=seen)
            if new_items is not None:
                from deeprecs.retrieval.newcomers import score_new_items

                top, scores = _with_new_items(top, scores, score_new_items(run.model, users, new_items).cpu().numpy(), len(run.item_map))
            keep = top >= 0  # padding (-1) sits at the tail of a row
            yield Batch(users=np.repeat(user_ids[users], top.shape[1])[keep.ravel()],
                        ranks=np.broadcast_to(np.arange(1, top.shape[1] + 1), top.shape)[keep],
                        items=item_ids[top[keep]], scores=scores[keep])
            bar.update(len(users))


def _with_new_items(top: np.ndarray, scores: np.ndarray, new_scores: np.ndarray, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's top-``k`` (indices, scores; ``-1``/``-inf`` padding) merged with its scores of
    the new items (indices ``n_items + j``), best first, still ``k`` long."""
    k = top.shape[1]
    items = np.concatenate([top, np.broadcast_to(n_items + np.arange(new_scores.shape[1]), new_scores.shape)], 1)
    values = np.concatenate([scores, new_scores.astype(scores.dtype)], 1)
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    items, values = np.take_along_axis(items, order, 1), np.take_along_axis(values, order, 1)
    return np.where(np.isneginf(values), -1, items), values


# ------------------------------------------------------------------ bulk loaders, per dialect
def _copy_escape(values: np.ndarray) -> list[str]:
    """PostgreSQL COPY text format: escape backslash, tab, newline, carriage return."""
    out = []
    for v in values.tolist():
        if "\\" in v or "\t" in v or "\n" in v or "\r" in v:
            v = v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        out.append(v)
    return out


def write_rows(conn: Connection, table: str, batch: Batch) -> None:
    """Append one batch to ``table`` on ``conn`` (inside the caller's transaction)."""
    if conn.dialect.name == "postgresql":
        users, items_ = _copy_escape(batch.users), _copy_escape(batch.items)
        lines = "".join(f"{u}\t{r}\t{i}\t{s!r}\n" for u, r, i, s in
                        zip(users, batch.ranks.tolist(), items_, batch.scores.tolist()))
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {table} (user_id, rank, item_id, score) FROM STDIN") as copy:
            copy.write(lines)
        cursor.close()
    else:
        rows = list(zip(batch.users.tolist(), batch.ranks.tolist(), batch.items.tolist(), batch.scores.tolist()))
        conn.exec_driver_sql(f"INSERT INTO {table} (user_id, rank, item_id, score) VALUES (?, ?, ?, ?)", rows)


def _create_recs_table(conn: Connection, version: int) -> None:
    postgres = conn.dialect.name == "postgresql"
    recs_table(version, primary_key=not postgres).create(conn)


def _finish_recs_table(conn: Connection, version: int) -> None:
    if conn.dialect.name == "postgresql":  # the key is cheaper to build once, after COPY
        name = recs_table_name(version)
        conn.exec_driver_sql(f"ALTER TABLE {name} ADD CONSTRAINT {name}_pkey PRIMARY KEY (user_id, rank)")
        conn.exec_driver_sql(f"ANALYZE {name}")


def _item_rows(run: Run, version: int, new_items: NewItems | None = None) -> list[dict]:
    popularity = np.bincount(run.train.items, minlength=len(run.item_map))
    rows = [{"version": version, "item_id": str(raw), "title": run.title(raw), "popularity": int(pop)}
            for raw, pop in zip(run.item_map.raw.tolist(), popularity.tolist())]
    return rows + [{"version": version, "item_id": str(raw), "title": title, "popularity": 0}
                   for raw, title in zip(new_items.ids.tolist(), new_items.titles)] if new_items is not None else rows


# ------------------------------------------------------------------ export, versions, prune
def export_run(run: Run, db: str | Engine, k: int = 100, batch_size: int = 2048, keep: int | None = None,
               progress: bool = True, new_items: NewItems | None = None) -> ExportInfo:
    """Write ``run``'s top-``k`` lists as a new version and make it current; returns its info.

    ``keep``: afterwards drop all but the ``keep`` newest complete versions (see :func:`prune`).
    ``new_items``: items the run has never seen, given by features
    (:func:`deeprecs.retrieval.newcomers.read_new_items`): ranked among the run's items for every
    user, without retraining (the live path does not know them: the API serves them from the store).
    """
    if isinstance(db, str):  # an engine of our own: closed when done, so no connection outlives the export
        engine = make_engine(db)
        try:
            return export_run(run, engine, k, batch_size, keep, progress, new_items)
        finally:
            engine.dispose()
    engine = db
    create_schema(engine)
    k = min(k, len(run.item_map))
    row = {"run_id": run_id(run.path), "run_path": str(run.path), "model": run.config.get("model", run.model.name),
           "dataset": str(run.config.get("dataset", run.config.get("data", ""))), "k": k,
           "n_users": len(run.user_map), "n_rows": 0, "status": "writing", "created_at": time.time()}
    with engine.begin() as conn:
        version = conn.execute(insert(exports).values(**row).returning(exports.c.version)).scalar_one()
    name = recs_table_name(version)
    try:
        with engine.begin() as conn:
            _create_recs_table(conn, version)
            n_rows = 0
            for batch in iter_batches(run, k, batch_size, progress, new_items):
                write_rows(conn, name, batch)
                n_rows += len(batch)
            _finish_recs_table(conn, version)
            conn.execute(insert(items), _item_rows(run, version, new_items))
            conn.execute(update(exports).where(exports.c.version == version)
                         .values(status="complete", n_rows=n_rows, finished_at=time.time()))
            conn.execute(update(current_export).where(current_export.c.id == 1).values(version=version))
    except BaseException:
        _mark_failed(engine, version)
        raise
    log.debug("export version %d: %d rows (top-%d of %d users) is now current", version, n_rows, k, row["n_users"])
    if keep is not None:
        prune(engine, keep)
    return _info(engine, version)


def _mark_failed(engine: Engine, version: int) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(update(exports).where(exports.c.version == version).values(status="failed"))
    except Exception:  # the database itself may be what failed; prune cleans up later
        log.warning("could not mark export version %d as failed", version)


def _info(engine: Engine, version: int) -> ExportInfo:
    with engine.connect() as conn:
        return ExportInfo(**conn.execute(select(exports).where(exports.c.version == version)).mappings().one())


def list_versions(engine: Engine) -> tuple[list[ExportInfo], int | None]:
    """All export rows (newest first) and the current version."""
    with engine.connect() as conn:
        rows = conn.execute(select(exports).order_by(exports.c.version.desc())).mappings().all()
        current = conn.execute(select(current_export.c.version).where(current_export.c.id == 1)).scalar()
    return [ExportInfo(**r) for r in rows], current


def prune(db: str | Engine, keep: int = 2, stale_after: float = 3600.0) -> list[int]:
    """Drop old versions: all but the ``keep`` newest complete ones (never the current one),
    failed ones, and unfinished ones older than ``stale_after`` seconds (a crashed export).
    Returns the versions dropped."""
    if isinstance(db, str):
        engine = make_engine(db)
        try:
            return prune(engine, keep, stale_after)
        finally:
            engine.dispose()
    engine = db
    create_schema(engine)
    versions, current = list_versions(engine)
    complete = [v.version for v in versions if v.status == "complete"]
    keep_set = set(complete[: max(keep, 0)]) | {current}
    now = time.time()
    drop = [v.version for v in versions if v.version not in keep_set
            and (v.status in ("complete", "failed") or now - v.created_at > stale_after)]
    for version in drop:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {recs_table_name(version)}"))
            conn.execute(delete(items).where(items.c.version == version))
            conn.execute(delete(exports).where(exports.c.version == version))
    return drop


__all__ = ["Batch", "export_run", "iter_batches", "list_versions", "prune", "write_rows"]
