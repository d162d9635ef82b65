"""A run directory: everything needed to use a trained model again, without unpickling.

Layout of ``runs/NAME/``::

    config.json    model name, model config, task, loss, data, split, seed, training options
    model.pt       the state dict (tensors only; loaded with ``torch.load(weights_only=True)``)
    model-before-refit.pt  (refitted runs) the same model fitted on the train part only, as it was
                   when the validation part chose its settings: what ``--pretrain`` validates with
    idmaps.json    raw user and item ids in index order
    train.npz      the training interactions (indices), for seen-item filtering and fold-in
    valid.npz      (leave-one-out protocols) the held-out validation interactions: evaluation keeps
                   them as candidates, recommendations treat them as seen
    dislikes.npz   (``--positive R`` on rated data) the train pairs rated below ``R``: known dislikes,
                   ranked last by evaluation, never recommended
    test.npz       the test part (and sampled negatives), for ``deeprecs evaluate``
    items.csv      item side data (title, year, genres) where the dataset has it
    metrics.json   flat test metrics (+ fit_seconds)
    checksums.json the SHA-256 of model*.pt and *.npz: a damaged file is refused (deeprecs.run_files)
    history.json   per-epoch training loss, validation metric, throughput
    loss.png       the training curves

Runs are written to a temporary sibling folder and renamed into place when complete, so a
crash never leaves a half-written run.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.errors import DeeprecsError, UnknownIdError
from deeprecs.models import build_model
from deeprecs.models.base import Recommender
from deeprecs.run_files import damaged, load_arrays, load_into, read_json, verify_checksums, write_checksums

FORMAT_VERSION = 1


@dataclass
class Run:
    path: Path
    model: Recommender
    config: dict
    user_map: IdMap
    item_map: IdMap
    train: Interactions
    test: Interactions | None = None
    test_negatives: np.ndarray | None = None
    items: pd.DataFrame | None = None
    metrics: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    before_refit: Recommender | None = None
    valid: Interactions | None = None
    dislikes: Interactions | None = None

    @property
    def validation_model(self) -> Recommender:
        """The model that never saw the validation part: the one fitted on train only when the
        run was refitted on train + validation, else the run's model. A run pre-training
        another validates with this one, and ends with :attr:`model`."""
        return self.before_refit if self.before_refit is not None else self.model

    @property
    def seen(self) -> sp.csr_matrix:
        """``(n_users, n_items)`` CSR of what each user is known to have interacted with (train,
        a protocol's validation part and the known dislikes where the run has them): what
        recommendations exclude."""
        if not hasattr(self, "_seen"):
            seen = self.train.tocsr()
            for part in (self.valid, self.dislikes):
                if part is not None and len(part):
                    seen = ((seen + part.tocsr()) != 0).astype(seen.dtype)
            self._seen = seen.tocsr()
        return self._seen

    def title(self, raw_item_id) -> str:
        if self.items is not None and "title" in self.items.columns:
            try:
                return str(self.items.at[raw_item_id, "title"])
            except KeyError:
                pass
        return ""

    def user_index(self, raw_id) -> int:
        return self.user_map.index(raw_id)

    def item_index(self, raw_id) -> int:
        return self.item_map.index(raw_id)


def _save_part(path: Path, part: Interactions, negatives: np.ndarray | None = None) -> None:
    arrays = {"users": part.users, "items": part.items}
    if part.ratings is not None:
        arrays["ratings"] = part.ratings
    if part.timestamps is not None:
        arrays["timestamps"] = part.timestamps
    if negatives is not None:
        arrays["negatives"] = negatives
    np.savez_compressed(path, **arrays)


def _load_part(path: Path, user_map: IdMap, item_map: IdMap) -> tuple[Interactions, np.ndarray | None]:
    z = load_arrays(path)
    try:
        part = Interactions(z["users"], z["items"], user_map, item_map, z.get("ratings"), z.get("timestamps"))
    except (KeyError, DeeprecsError) as exc:  # arrays missing, or not fitting the id maps
        raise damaged(path, f"its arrays do not fit the run: {exc}") from None
    return part, z.get("negatives")


def save_run(
    out: str | Path,
    model: Recommender,
    config: dict,
    train: Interactions,
    *,
    test: Interactions | None = None,
    test_negatives: np.ndarray | None = None,
    items: pd.DataFrame | None = None,
    metrics: dict | None = None,
    history: dict | None = None,
    figures: dict[str, "callable"] | None = None,
    before_refit: Recommender | None = None,
    valid: Interactions | None = None,
    dislikes: Interactions | None = None,
) -> Path:
    """Write a run directory atomically (temporary sibling, then rename). ``before_refit``: the
    model as fitted on train only, for a run whose ``model`` was refitted on train + validation."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        full_config = {**config, "format_version": FORMAT_VERSION, "model_config": model.config.model_dump()}
        (tmp / "config.json").write_text(json.dumps(full_config, indent=2, default=str))
        torch.save(model.state_dict(), tmp / "model.pt")
        if before_refit is not None:
            torch.save(before_refit.state_dict(), tmp / "model-before-refit.pt")
        (tmp / "idmaps.json").write_text(json.dumps({"users": train.user_map.to_json(), "items": train.item_map.to_json()}))
        _save_part(tmp / "train.npz", train)
        for name, part in (("valid.npz", valid), ("dislikes.npz", dislikes)):
            if part is not None and len(part):
                _save_part(tmp / name, part)
        if test is not None:
            _save_part(tmp / "test.npz", test, test_negatives)
        write_checksums(tmp)
        if items is not None:
            items.to_csv(tmp / "items.csv")
        (tmp / "metrics.json").write_text(json.dumps(metrics or {}, indent=2))
        (tmp / "history.json").write_text(json.dumps(history or {}, indent=2))
        for name, draw in (figures or {}).items():
            draw(tmp / name)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def load_run(path: str | Path) -> Run:
    """Load a run directory written by :func:`save_run` (no pickle is ever loaded)."""
    path = Path(path)
    if not (path / "config.json").is_file() or not (path / "model.pt").is_file():
        raise DeeprecsError(f"{path} is not a deeprecs run directory (no config.json/model.pt); train one with `deeprecs train`")
    verify_checksums(path)
    config = read_json(path / "config.json")
    maps = read_json(path / "idmaps.json")
    try:
        user_map, item_map = IdMap.from_json(maps["users"], kind="user"), IdMap.from_json(maps["items"], kind="item")
    except (KeyError, TypeError, DeeprecsError) as exc:
        raise damaged(path / "idmaps.json", f"not the run's id maps: {exc}") from None
    model_config = {k: v for k, v in config["model_config"].items() if k not in ("n_users", "n_items")}
    model = build_model(config["model"], len(user_map), len(item_map), **model_config)
    load_into(model, path / "model.pt")
    model.eval()
    before_refit = None
    if (path / "model-before-refit.pt").is_file():
        before_refit = build_model(config["model"], len(user_map), len(item_map), **model_config)
        load_into(before_refit, path / "model-before-refit.pt")
        before_refit.eval()
    train, _ = _load_part(path / "train.npz", user_map, item_map)
    valid, dislikes = (_load_part(path / name, user_map, item_map)[0] if (path / name).is_file() else None
                       for name in ("valid.npz", "dislikes.npz"))
    test, negatives = (None, None)
    if (path / "test.npz").is_file():
        test, negatives = _load_part(path / "test.npz", user_map, item_map)
    items = None
    if (path / "items.csv").is_file():
        items = pd.read_csv(path / "items.csv", index_col=0)
    metrics = json.loads((path / "metrics.json").read_text()) if (path / "metrics.json").is_file() else {}
    history = json.loads((path / "history.json").read_text()) if (path / "history.json").is_file() else {}
    return Run(path, model, config, user_map, item_map, train, test, negatives, items, metrics, history, before_refit, valid, dislikes)


__all__ = ["Run", "UnknownIdError", "load_run", "save_run"]
