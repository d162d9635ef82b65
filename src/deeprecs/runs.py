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
    features.json  (models that read features) each side's encoding (columns, roles, vocabularies,
    features.npz   bucket edges) and its table aligned to the id maps (CSR arrays)
    metrics.json   flat test metrics (+ fit_seconds)
    checksums.json the SHA-256 of model*.pt and *.npz: a damaged file is refused (deeprecs.run_files)
    history.json   per-epoch training loss, validation metric, throughput
    loss.png       the training curves
    tuning.json    (``deeprecs tune`` runs) every trial of the search: its options, validation value, time

Runs are written to a temporary sibling folder and renamed into place when complete, so a
crash never leaves a half-written run. Weights are saved from the host, whatever device trained
them, so a run trained on a GPU loads on a CPU; :func:`load_run` puts the model on the device asked.
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

from deeprecs.data.features import FeatureTable, Features
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.errors import DeeprecsError, UnknownIdError
from deeprecs.models import build_model
from deeprecs.models.base import Recommender
from deeprecs.run_files import damaged, load_arrays, load_into, read_json, verify_checksums, write_checksums

#: 2: ALS's recency moved from the model's options to the training options (``--recency`` names one thing)
FORMAT_VERSION = 2


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
    features: Features = field(default_factory=Features)

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

    def titles(self) -> list[str]:
        """Each item's title, in index order ("" where unknown)."""
        return [self.title(raw) for raw in self.item_map.raw.tolist()]

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
    if part.weights is not None:
        arrays["weights"] = part.weights
    if negatives is not None:
        arrays["negatives"] = negatives
    np.savez_compressed(path, **arrays)


def _load_part(path: Path, user_map: IdMap, item_map: IdMap) -> tuple[Interactions, np.ndarray | None]:
    z = load_arrays(path)
    try:
        part = Interactions(z["users"], z["items"], user_map, item_map, z.get("ratings"), z.get("timestamps"), weights=z.get("weights"))
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
    extras: dict[str, dict] | None = None,
    features: Features | None = None,
) -> Path:
    """Write a run directory atomically (temporary sibling, then rename). ``before_refit``: the
    model as fitted on train only, for a run whose ``model`` was refitted on train + validation;
    ``extras``: more JSON files (``{name: content}``, e.g. ``tuning.json``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        full_config = {**config, "format_version": FORMAT_VERSION, "model_config": model.config.model_dump()}
        (tmp / "config.json").write_text(json.dumps(full_config, indent=2, default=str))
        torch.save(host_state(model), tmp / "model.pt")
        if before_refit is not None:
            torch.save(host_state(before_refit), tmp / "model-before-refit.pt")
        (tmp / "idmaps.json").write_text(json.dumps({"users": train.user_map.to_json(), "items": train.item_map.to_json()}))
        _save_part(tmp / "train.npz", train)
        for name, part in (("valid.npz", valid), ("dislikes.npz", dislikes)):
            if part is not None and len(part):
                _save_part(tmp / name, part)
        if test is not None:
            _save_part(tmp / "test.npz", test, test_negatives)
        if features:
            _save_features(tmp, features)
        write_checksums(tmp)
        if items is not None:
            items.to_csv(tmp / "items.csv")
        (tmp / "metrics.json").write_text(json.dumps(metrics or {}, indent=2))
        (tmp / "history.json").write_text(json.dumps(history or {}, indent=2))
        for name, content in (extras or {}).items():
            (tmp / name).write_text(json.dumps(content, indent=2, default=str))
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


def _save_features(folder: Path, features: Features) -> None:
    sides = {side: table for side, table in (("users", features.users), ("items", features.items)) if table is not None}
    np.savez_compressed(folder / "features.npz", **{k: v for side, table in sides.items() for k, v in table.arrays(side).items()})
    (folder / "features.json").write_text(json.dumps({side: table.to_json() for side, table in sides.items()}, indent=2))


def _load_features(path: Path) -> Features:
    if not (path / "features.json").is_file():
        return Features()
    meta, arrays = read_json(path / "features.json"), load_arrays(path / "features.npz")
    try:
        return Features(*(FeatureTable.from_saved(meta[side], arrays, side) if side in meta else None for side in ("users", "items")))
    except (KeyError, TypeError, DeeprecsError) as exc:
        raise damaged(path / "features.json", f"not the run's features: {exc}") from None


def host_state(model: Recommender) -> dict[str, torch.Tensor]:
    """``model``'s state dict on the host (what a run file holds, whatever device trained it)."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def _migrate(config: dict) -> dict:
    """A run written by an earlier format, read as the current one."""
    if config.get("format_version", 1) < 2:
        from deeprecs.models import get_model_class
        from deeprecs.training import TrainConfig

        fields = get_model_class(config["model"]).Config.model_fields
        model_config = dict(config["model_config"])
        moved = {k: model_config.pop(k) for k in list(model_config) if k not in fields and k in TrainConfig.model_fields}
        config = {**config, "model_config": model_config, "train": {**config.get("train", {}), **moved}}
    return config


def _load_model(path: Path, file: str, config: dict, user_map: IdMap, item_map: IdMap, device: torch.device | str) -> Recommender:
    model_config = {k: v for k, v in config["model_config"].items() if k not in ("n_users", "n_items")}  # feature sizes stay
    model = build_model(config["model"], len(user_map), len(item_map), **model_config)
    load_into(model, path / file)
    return model.to(device).eval()


def load_run(path: str | Path, device: torch.device | str = "cpu") -> Run:
    """Load a run directory written by :func:`save_run` (no pickle is ever loaded), its model on
    ``device`` (see :func:`deeprecs.devices.resolve_device`)."""
    path = Path(path)
    if not (path / "config.json").is_file() or not (path / "model.pt").is_file():
        raise DeeprecsError(f"{path} is not a deeprecs run directory (no config.json/model.pt); train one with `deeprecs train`")
    verify_checksums(path)
    config = _migrate(read_json(path / "config.json"))
    maps = read_json(path / "idmaps.json")
    try:
        user_map, item_map = IdMap.from_json(maps["users"], kind="user"), IdMap.from_json(maps["items"], kind="item")
    except (KeyError, TypeError, DeeprecsError) as exc:
        raise damaged(path / "idmaps.json", f"not the run's id maps: {exc}") from None
    model = _load_model(path, "model.pt", config, user_map, item_map, device)
    before_refit = None
    if (path / "model-before-refit.pt").is_file():
        before_refit = _load_model(path, "model-before-refit.pt", config, user_map, item_map, device)
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
    return Run(path, model, config, user_map, item_map, train, test, negatives, items, metrics, history, before_refit, valid, dislikes,
               _load_features(path))


__all__ = ["Run", "UnknownIdError", "host_state", "load_run", "save_run"]
