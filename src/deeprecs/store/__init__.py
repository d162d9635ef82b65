"""Recommendation store: precomputed top-K lists per user in SQLite or PostgreSQL, versioned."""

from deeprecs.store.reader import RecStore, StoreUnavailable
from deeprecs.store.schema import ExportInfo, make_engine, normalize_url, run_id
from deeprecs.store.writer import export_run, list_versions, prune

__all__ = ["ExportInfo", "RecStore", "StoreUnavailable", "export_run", "list_versions", "make_engine", "normalize_url", "prune", "run_id"]
