"""Reading a run's binary files so that a damaged one is an error that names it, never a traceback.

A run written by :func:`deeprecs.runs.save_run` lists the SHA-256 of its weights and arrays in
``checksums.json``: a file truncated, altered or swapped since is refused before it is read
(runs from before the list are checked by reading alone). A file that cannot be read — a
truncated zip, bytes that are not a state dict or arrays, arrays that do not fit the id maps,
weights whose shapes do not fit ``config.json`` — raises :class:`DamagedRun` with one line
that names the file and says what to do.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from deeprecs.errors import DeeprecsError

CHECKSUMS = "checksums.json"
#: the files whose digests a run keeps (those present)
CHECKED = ("model.pt", "model-before-refit.pt", "train.npz", "valid.npz", "dislikes.npz", "test.npz")
#: what reading a damaged file raises, from torch.load, numpy, zipfile and pickle
READ_ERRORS = (OSError, EOFError, ValueError, RuntimeError, KeyError, TypeError, IndexError, AttributeError,
               zipfile.BadZipFile, pickle.UnpicklingError, UnicodeDecodeError)


class DamagedRun(DeeprecsError):
    """A run file that is missing, altered or unreadable."""


def damaged(path: Path, reason: str) -> DamagedRun:
    reason = " ".join(str(reason).split())[:200] or "unreadable"
    return DamagedRun(f"{path} is damaged ({reason}); train the run again (deeprecs train ... --out {path.parent}) "
                      "or restore the file from a copy")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(folder: Path) -> None:
    """``checksums.json``: the SHA-256 of each of :data:`CHECKED` that ``folder`` holds."""
    sums = {name: _sha256(folder / name) for name in CHECKED if (folder / name).is_file()}
    (folder / CHECKSUMS).write_text(json.dumps(sums, indent=2))


def verify_checksums(folder: Path) -> None:
    """Refuse a file listed in ``checksums.json`` that is gone or differs (no list: nothing to check)."""
    listed = folder / CHECKSUMS
    if not listed.is_file():
        return
    try:
        sums = json.loads(listed.read_text())
    except (OSError, ValueError) as exc:
        raise damaged(listed, f"not a checksum list: {exc}") from None
    for name, digest in sums.items():
        path = folder / name
        if not path.is_file():
            raise damaged(path, "missing, though the run lists it")
        if _sha256(path) != digest:
            raise damaged(path, "its SHA-256 differs from the one saved with the run: truncated or altered")


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise damaged(path, f"not valid JSON: {exc}") from None


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """A state dict (tensors only: ``weights_only``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except READ_ERRORS as exc:
        raise damaged(path, f"not a readable state dict: {type(exc).__name__}: {exc}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise damaged(path, f"holds a {type(state).__name__}, not a state dict of tensors")
    return state


def load_into(model: torch.nn.Module, path: Path) -> None:
    """``model.load_weights`` of ``path``: weights of another model or size are an error too."""
    state = load_state(path)
    try:
        model.load_weights(state)
    except READ_ERRORS as exc:
        raise damaged(path, f"its weights do not fit the model in config.json: {exc}") from None


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (no pickle)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    except READ_ERRORS as exc:
        raise damaged(path, f"not readable arrays: {type(exc).__name__}: {exc}") from None
