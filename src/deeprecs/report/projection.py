"""Item embeddings down to two dimensions (PCA, t-SNE or UMAP), and what to colour and label."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deeprecs.data.features import MISSING
from deeprecs.errors import ConfigError

METHODS = ("pca", "tsne", "umap")
#: t-SNE and UMAP cost grows with the catalogue; they see at most this many (most popular) items
MAX_NONLINEAR = 5000


def check_method(method: str) -> None:
    """Refuse an unknown method, or UMAP when ``umap-learn`` is not installed, before any work."""
    if method not in METHODS:
        raise ConfigError(f"unknown map method {method!r}; use one of {', '.join(METHODS)}")
    if method == "umap":
        try:
            import umap  # noqa: F401
        except ImportError:
            raise ConfigError("--map umap needs the umap-learn package; use --map tsne or --map pca") from None


def pca(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(coords (n, 2), explained variance ratio (2,))`` by SVD of the centred matrix."""
    centred = x - x.mean(0, keepdims=True)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    var = s**2
    ratio = var[:2] / max(var.sum(), 1e-12)
    return coords, np.pad(ratio, (0, 2 - len(ratio)))


def project(x: np.ndarray, method: str = "pca", seed: int = 0) -> tuple[np.ndarray, str]:
    """``(coords (n, 2), axis description)`` of the rows of ``x`` ``(n, d)``."""
    x = np.asarray(x, dtype=np.float64)
    if method == "pca" or len(x) < 5:
        coords, ratio = pca(x)
        return coords, f"PCA (explained variance {ratio[0]:.0%} + {ratio[1]:.0%})"
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (len(x) - 1) // 3)))
        coords = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
        return coords, f"t-SNE (perplexity {perplexity:g})"
    import umap

    coords = umap.UMAP(n_components=2, random_state=seed).fit_transform(x)
    return np.asarray(coords), "UMAP"


def primary_genres(items: pd.DataFrame | None, ids: np.ndarray) -> np.ndarray | None:
    """The first listed genre of each item (``""`` where unknown), or ``None`` with no genres."""
    if items is None or "genres" not in items.columns:
        return None
    genres = items["genres"].reindex(_index_like(items, ids)).astype("string").fillna("").astype(str)
    first = genres.str.split("|").str[0].str.strip().to_numpy()
    return first if (first != "").any() else None


def feature_genres(table, rows: np.ndarray) -> np.ndarray | None:  # noqa: ANN001 - FeatureTable | None
    """Each row's primary genre from a run's item feature table (a run on the user's own items,
    ``--item-features`` with a column named like ``genre``/``genres``): a multi-valued column's first
    genre in the vocabulary (alphabetical, as MovieLens lists them), a categorical one's first listed
    (``Comedy|Drama``: ``Comedy``); ``""`` where it has none;
    ``None`` without such a column."""
    if table is None:
        return None
    columns = table.encoder.columns
    k = next((k for k, c in enumerate(columns) if "genre" in c.name.lower() and c.role in ("categorical", "multi")), None)
    if k is None:
        return None
    cut, sep = len(columns[k].name) + 1, columns[k].sep  # "genres=Comedy|Drama" -> "Comedy" (a categorical column's first listed)
    value = np.array([name[cut:].split(sep)[0].strip() if field == k and name[cut:] != MISSING else ""
                      for name, field in zip(table.names(), table.encoder.fields())], dtype=object)
    rows = np.asarray(rows, dtype=np.int64)
    lengths = table.indptr[rows + 1] - table.indptr[rows]
    pos = np.repeat(table.indptr[rows] - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
    row, feature = np.repeat(np.arange(len(rows)), lengths), table.indices[pos]
    named = value[feature] != ""
    row, feature = row[named], feature[named]
    order = np.lexsort((feature, row))  # by row, then feature id: each row's first is its smallest
    first_rows, at = np.unique(row[order], return_index=True)
    out = np.full(len(rows), "", dtype=object)
    out[first_rows] = value[feature[order][at]]
    return out if (out != "").any() else None


def titles(items: pd.DataFrame | None, ids: np.ndarray) -> np.ndarray | None:
    if items is None or "title" not in items.columns:
        return None
    found = items["title"].reindex(_index_like(items, ids))
    return None if found.isna().all() else found.fillna("").astype(str).to_numpy()


def _index_like(items: pd.DataFrame, ids: np.ndarray) -> list:
    """Raw ids cast to the dtype of ``items.index`` (ids saved as text and read back as ints)."""
    if items.index.dtype.kind in "iu":
        try:
            return [int(i) for i in ids]
        except (TypeError, ValueError):
            pass
    return [i if items.index.dtype.kind in "iuf" else str(i) for i in ids]
