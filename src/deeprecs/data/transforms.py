"""Rating transforms: binarise at a threshold, or map rating values through a table.

Value maps are written as text, e.g. ``"1:-1,2:-1,3:0,4:1,5:1"``; a key may also be an
inclusive range ``"0.5-2.5:-1"`` (negative bounds are not supported in ranges).  Every rating
must be covered: unmapped values are an error that lists them.
"""

from __future__ import annotations

import numpy as np

from deeprecs.data.interactions import Interactions
from deeprecs.errors import ConfigError, DataError

# One entry: (low, high, value); a single value is low == high.
ValueMap = list[tuple[float, float, float]]


def _require_ratings(inter: Interactions, what: str) -> np.ndarray:
    if inter.ratings is None:
        raise DataError(f"{what} needs ratings, but these interactions are implicit (no rating column)")
    return inter.ratings


def binarize(inter: Interactions, threshold: float) -> Interactions:
    """Ratings become 1.0 where ``rating >= threshold`` and 0.0 elsewhere (no rows dropped)."""
    r = _require_ratings(inter, "binarize")
    out = (r >= threshold).astype(np.float32)
    return inter.replace(ratings=out, meta={**inter.meta, "binarized_at": float(threshold)})


def parse_value_map(text: str) -> ValueMap:
    """Parse ``"1:-1,2:-1,3:0,4:1,5:1"`` or ``"0.5-2.5:-1,3-5:1"``; :class:`ConfigError` if malformed."""
    entries: ValueMap = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.rpartition(":")
        try:
            if not sep:
                raise ValueError
            target = float(value)
            key = key.strip()
            dash = key.find("-", 1)  # a leading "-" is a sign, not a range
            if dash > 0:
                low, high = float(key[:dash]), float(key[dash + 1:])
            else:
                low = high = float(key)
        except ValueError:
            raise ConfigError(
                f"bad value-map entry {part!r}: expected RATING:VALUE or LOW-HIGH:VALUE, e.g. '1:-1,2:-1,3:0,4:1,5:1'"
            ) from None
        if low > high:
            raise ConfigError(f"bad value-map range {part!r}: low {low} > high {high}")
        entries.append((low, high, target))
    if not entries:
        raise ConfigError("empty value map: expected e.g. '1:-1,2:-1,3:0,4:1,5:1'")
    return entries


def apply_value_map(inter: Interactions, mapping: ValueMap | dict | str) -> Interactions:
    """Replace each rating by its mapped value; :class:`DataError` listing unmapped ratings.

    ``mapping``: a parsed map, a ``{rating: value}`` dict, or the text form.
    Earlier entries win where ranges overlap.
    """
    if isinstance(mapping, str):
        mapping = parse_value_map(mapping)
    elif isinstance(mapping, dict):
        mapping = [(float(k), float(k), float(v)) for k, v in mapping.items()]
    r = _require_ratings(inter, "a value map")
    out = np.full(len(r), np.nan, dtype=np.float32)
    done = np.zeros(len(r), dtype=bool)
    eps = 1e-6
    for low, high, value in mapping:  # loop over the (few) map entries, vectorised over rows
        hit = ~done & (r >= low - eps) & (r <= high + eps)
        out[hit] = value
        done |= hit
    if not done.all():
        missing = np.unique(r[~done])
        shown = ", ".join(f"{v:g}" for v in missing[:20])
        raise DataError(
            f"the value map does not cover rating(s) {shown} ({int((~done).sum())} rows); add them, e.g. '{missing[0]:g}:VALUE'"
        )
    return inter.replace(ratings=out, meta={**inter.meta, "value_map": [list(e) for e in mapping]})
