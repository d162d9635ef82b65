"""The dataset cache: ``$DEEPRECS_HOME/<name>/``, each folder with a ``.source`` line saying where its files came from.

A folder is written elsewhere first (a temporary sibling) and :func:`install` renames it into place
only when it is complete, so nothing half-done ever sits under a final name.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SOURCE_FILE = ".source"


def cache_dir() -> Path:
    """``$DEEPRECS_HOME``, else the platform's user cache folder + ``deeprecs`` (created)."""
    env = os.environ.get("DEEPRECS_HOME")
    if env:
        root = Path(env).expanduser()
    elif sys.platform == "win32":
        root = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "deeprecs" / "Cache"
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches" / "deeprecs"
    else:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "deeprecs"
    root.mkdir(parents=True, exist_ok=True)
    return root


def read_source(folder: Path) -> str:
    """Where the files in ``folder`` came from (``.source``), or the folder itself."""
    marker = Path(folder) / SOURCE_FILE
    return marker.read_text().strip() if marker.is_file() else str(folder)


def install(folder: Path, target: Path, source: str) -> Path:
    """Mark the complete ``folder`` with its ``source`` and rename it to ``target`` (replacing an
    older copy); returns ``target``."""
    (folder / SOURCE_FILE).write_text(source + "\n")
    if target.exists():
        shutil.rmtree(target)
    folder.rename(target)
    return target


__all__ = ["SOURCE_FILE", "cache_dir", "install", "read_source"]
