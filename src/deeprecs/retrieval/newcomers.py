"""Users and items that have no row in a trained model, described by their features (and a new
user's liked items), scored without retraining.

A run keeps its feature encoding (:class:`deeprecs.data.features.FeatureTable`): a newcomer's raw
values (``{"age": "25", "gender": "F"}``; a multi-valued column's values joined by its separator,
or a list) are checked against it (a column or value it never saw is an
:class:`~deeprecs.errors.UnknownFeatureError` that says what it accepts), encoded as in training,
and the model (one that reads features: ``Recommender.inputs``) scores a batch whose ids are ``-1``
from them alone. The CLI (``recommend --new-user``, ``similar --new-item``) and the HTTP API answer
with the same lists (:func:`new_user_lists`, :func:`new_item_lists`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import pandas as pd
import torch

from deeprecs.batch import Batch, FeatureBag, pad_histories
from deeprecs.errors import ConfigError, DataError, NoFeaturesError, UnknownFeatureError
from deeprecs.models.base import reads_features
from deeprecs.retrieval.foldin import liked_matrix
from deeprecs.retrieval.listing import py, ranked_indices
from deeprecs.retrieval.topk import mask_rows, top_k

#: a feature's value as given: text, a number, or a multi-valued column's values
Value = Union[str, int, float, Sequence[str], None]
#: accepted values listed in an error, at most
SHOWN = 30


def parse_values(text: str) -> dict[str, str]:
    """``"age=25,gender=F,genres=Comedy|Drama"`` -> ``{"age": "25", ...}``."""
    out = {}
    for part in [p for p in text.split(",") if p.strip()]:
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            raise ConfigError(f"{text!r}: expected NAME=VALUE,... (the feature table's columns), got {part!r}")
        out[name.strip()] = value.strip()
    return out


def _text(value: Value, sep: str) -> str:
    """A value as the feature table's cell reads it (a list joined by the column's separator)."""
    if isinstance(value, (list, tuple)):
        return sep.join(str(v).strip() for v in value)
    return "" if value is None or pd.isna(value) else str(value).strip()


def _check(side: str, col, info: dict, text: str) -> None:  # noqa: ANN001 - a Column
    """Raise :class:`UnknownFeatureError` where ``text`` is not a value the column knows (empty: missing)."""
    if not text:
        return
    if col.role in ("bucket", "scale"):
        try:
            ok = np.isfinite(float(text))
        except ValueError:
            ok = False
        if not ok:
            raise UnknownFeatureError(f"{side} feature {col.name} takes a number, got {text!r}")
        return
    tokens = [t.strip() for t in text.split(col.sep)] if col.role == "multi" else [text]
    vocab = set(info["values"])
    unknown = [t for t in tokens if t and t not in vocab]
    if unknown:
        shown = ", ".join(info["values"][:SHOWN]) + (f", ... ({len(vocab)} in all)" if len(vocab) > SHOWN else "")
        several = f" (several joined by {col.sep!r} or as a list)" if col.role == "multi" else ""
        raise UnknownFeatureError(f"unknown {side} feature value {col.name}={unknown[0]!r}; accepted{several}: {shown}")


def side_table(run, side: str):  # noqa: ANN001, ANN201 - Run; FeatureTable | None
    """The run's feature table of ``side`` (``"user"`` or ``"item"``) where its model reads it, else ``None``."""
    table = run.features.users if side == "user" else run.features.items
    return table if table is not None and reads_features(run.model) else None


def _table(run, side: str, given: Sequence[str] = ()):  # noqa: ANN001, ANN202 - Run, FeatureTable
    """The run's feature table of ``side``; raises where it has none, or where ``given`` names a
    column it does not have."""
    table = side_table(run, side)
    if table is None:
        from deeprecs.models import MODELS

        readers = ", ".join(name for name, cls in MODELS.items() if f"{side}_features" in cls.inputs)
        raise NoFeaturesError(f"the run's model ({run.model.name}) has no {side} features: train a model that reads features "
                              f"({readers}) with {side} features")
    known = [c.name for c in table.encoder.columns]
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise UnknownFeatureError(f"unknown {side} feature column(s) {', '.join(unknown)}; the run's are {', '.join(known)}")
    return table


def _encode(run, side: str, table, rows: list[dict[str, Value]], where: Sequence[str] = ()) -> FeatureBag:  # noqa: ANN001
    """``rows`` (column -> value each) checked (an error prefixed by the row's ``where``) and encoded."""
    encoder, cells = table.encoder, []
    for n, values in enumerate(rows):
        row = {}
        for col, info in zip(encoder.columns, encoder.learned):
            row[col.name] = _text(values.get(col.name), col.sep)
            try:
                _check(side, col, info, row[col.name])
            except UnknownFeatureError as exc:
                raise UnknownFeatureError(f"{where[n]}: {exc}" if where else str(exc)) from None
        cells.append({c: v or None for c, v in row.items()})
    return table.new_rows(pd.DataFrame(cells, columns=[c.name for c in encoder.columns])).to(run.model.device)


def feature_bag(run, side: str, values: dict[str, Value]) -> FeatureBag:  # noqa: ANN001 - Run
    """One new row of ``side`` (``"user"`` or ``"item"``) given by ``values`` (column -> value; a
    column left out is missing), encoded by the run's feature table, on the model's device."""
    return _encode(run, side, _table(run, side, list(values)), [values])


@dataclass
class NewItems:
    """Items the run has never seen, given by features (:func:`read_new_items`): raw ids (text),
    titles, and their feature bag (one row each)."""

    ids: np.ndarray
    titles: list[str]
    bag: FeatureBag

    def __len__(self) -> int:
        return len(self.ids)


def read_new_items(run, path: str | Path) -> NewItems:  # noqa: ANN001 - Run
    """A table of new items (first column: the id; the run's item feature columns; optional
    ``title``), checked: an unknown column, a value the run does not know, or an id the run
    already has is one line naming the file (and line)."""
    from deeprecs.data.feature_sources import read_feature_file

    frame, _, lines = read_feature_file(path)
    try:
        table = _table(run, "item", [c for c in frame.columns if c != "title"])
    except UnknownFeatureError as exc:
        raise UnknownFeatureError(f"{path}: {exc}") from None
    ids = frame.index.astype(str).to_numpy(object)
    taken = {str(x) for x in run.item_map.raw.tolist()}
    clash = [n for n, i in enumerate(ids) if i in taken]
    if clash:
        raise DataError(f"{path}:{lines[clash[0]]}: item {ids[clash[0]]!r} is an item of the run already (new items need new ids)")
    titles = frame["title"].fillna("").astype(str).tolist() if "title" in frame.columns else [""] * len(ids)
    rows = frame.drop(columns=[c for c in ("title",) if c in frame.columns]).to_dict("records")
    return NewItems(ids, titles, _encode(run, "item", table, rows, [f"{path}:{line}" for line in lines]))


def score_new_items(model, users: np.ndarray | torch.Tensor, new: NewItems) -> torch.Tensor:  # noqa: ANN001 - Recommender
    """``(B, N)``: each of ``users``' scores of the ``N`` new items (by their features alone)."""
    users = torch.as_tensor(np.asarray(users), dtype=torch.long, device=model.device)
    items = torch.full((len(users), len(new)), -1, dtype=torch.long, device=model.device)
    with torch.no_grad():
        return model.score_candidates(Batch(users, items, item_features=_tile(new.bag, len(users))))


def example_values(run, side: str) -> dict[str, Value]:  # noqa: ANN001 - Run
    """A description a newcomer of ``side`` could send (each column's first known value; a number
    column's middle bucket edge or mean), for documentation; ``{}`` where the run has no such features."""
    table = side_table(run, side)
    if table is None:
        return {}
    out: dict[str, Value] = {}
    for col, info in zip(table.encoder.columns, table.encoder.learned):
        if col.role == "bucket":
            edges = info["edges"]
            out[col.name] = edges[len(edges) // 2] if edges else 0
        elif col.role == "scale":
            out[col.name] = round(info["mean"], 3)
        elif info["values"]:
            out[col.name] = info["values"][:1] if col.role == "multi" else info["values"][0]
    return out


def _tile(bag: FeatureBag, n: int) -> FeatureBag:
    """A bag's rows ``n`` times over (rows ``0..B-1``, then again)."""
    nnz = len(bag.indices)
    offsets = (bag.offsets.unsqueeze(0) + nnz * torch.arange(n, device=bag.offsets.device).unsqueeze(1)).reshape(-1)
    return FeatureBag(bag.indices.repeat(n), offsets, None if bag.weights is None else bag.weights.repeat(n))


@torch.no_grad()
def recommend_new_user(run, values: dict[str, Value], liked: Sequence[int] = (), k: int = 10) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Top-``k`` items ``(items (1, k), scores (1, k))`` for a new user given by features and the
    item indices they liked (excluded from the list)."""
    model = run.model
    history = pad_histories([list(liked)], device=model.device) if liked else None
    scores = model.score_all(Batch(torch.tensor([-1], device=model.device), user_features=feature_bag(run, "user", values), history=history))
    if liked:
        mask_rows(scores, liked_matrix([liked], scores.shape[1]))
    items, top = top_k(scores, k)
    return items.cpu().numpy(), top.cpu().numpy()


@torch.no_grad()
def new_item(run, values: dict[str, Value], k: int = 10, which: Sequence[str] = ("similar", "users")  # noqa: ANN001
             ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A new item given by features: (``which``) the ``k`` most similar items (cosine of the item
    embeddings, ``"similar"``) and the ``k`` users who would score it highest (``"users"``), each
    ``(indices (k,), values (k,))``."""
    model = run.model
    bag = feature_bag(run, "item", values)
    out = {}
    if "similar" in which:
        mine, every = model.new_item_embeddings(bag), model.item_embeddings()
        if mine is None or every is None:
            raise ConfigError(f"model {model.name!r} cannot place a new item among its items")
        out["similar"] = top_k(torch.nn.functional.cosine_similarity(mine, every, dim=1).unsqueeze(0), k)
    if "users" in which:
        n_users = model.config.n_users
        users = torch.arange(n_users, device=model.device)
        out["users"] = top_k(model(Batch(users, torch.full((n_users,), -1, device=model.device), item_features=_tile(bag, n_users)))
                             .unsqueeze(0), k)
    return {key: tuple(t[0].cpu().numpy() for t in pair) for key, pair in out.items()}


def new_user_lists(run, values: dict[str, Value], liked: Sequence[int] = (), k: int = 10) -> list[dict]:  # noqa: ANN001
    """:func:`recommend_new_user` as a ranked list of raw item ids with titles."""
    items, scores = recommend_new_user(run, values, liked, k)
    return ranked_indices(items[0], scores[0], run.item_map.raw, run.titles())


def new_item_lists(run, values: dict[str, Value], k: int = 10, which: Sequence[str] = ("similar", "users")  # noqa: ANN001
                   ) -> dict[str, list[dict]]:
    """:func:`new_item` as ranked lists: ``similar`` (raw item ids, titles, similarity) and
    ``users`` (raw user ids, score)."""
    found, out = new_item(run, values, k, which), {}
    if "similar" in found:
        out["similar"] = ranked_indices(*found["similar"], run.item_map.raw, run.titles(), key="similarity")
    if "users" in found:
        out["users"] = [{"rank": n + 1, "user": py(run.user_map.raw[u]), "score": float(np.float32(v))}
                        for n, (u, v) in enumerate(zip(*found["users"]))]
    return out


__all__ = ["NewItems", "example_values", "feature_bag", "new_item", "new_item_lists", "new_user_lists", "parse_values", "read_new_items",
           "recommend_new_user", "score_new_items", "side_table"]
