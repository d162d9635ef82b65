"""Synthetic interaction logs with MovieLens-like statistics, of any size (``--data synthetic:32m``).

MovieLens 20M-32M cannot be downloaded everywhere (the real download path, ``--data ml-32m``,
stays); this stands in for them at the same scale. Per row it draws, vectorised, in chunks:

* a user in proportion to a lognormal activity (``user_sigma``), capped so that nobody has more
  than a quarter of the catalogue;
* an item with Zipf-like popularity ``rank ** -zipf_a`` (popular items are not the low ids);
* a rating from MovieLens' histogram (whole stars 1-5, or half stars 0.5-5 as in ML-20M+);
* a timestamp inside the user's active window: users arrive uniformly over 1996-2023 and stay
  an exponential time (a year on average), within the log's end.

Every ``(user, item)`` pair occurs once (repeats are drawn again). The shape follows MovieLens:
at 32 million interactions it is ML-32M's 200,948 users x 87,585 items, users grow in proportion
to the data and the catalogue as ``n ** 0.9`` (ML-1M: 6,040 x 3,706 at 1 million), but never
fewer items than keep the density at 5% (about 3,200). Ids are int32
(:class:`~deeprecs.data.interactions.Interactions` keeps them so: half the memory of int64).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from deeprecs.data.dataset import Dataset
from deeprecs import pairs
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.errors import ConfigError

#: ML-32M: interactions, users, items
REFERENCE = (32_000_000, 200_948, 87_585)
ITEM_EXPONENT = 0.9
#: at most this share of all (user, item) pairs occurs (ML-1M: 4.5%): small logs get a catalogue of ~3,200 items
MAX_DENSITY = 0.05
WHOLE_STARS = (np.arange(1.0, 6.0), np.array([0.06, 0.11, 0.27, 0.35, 0.21]))  # ML-1M's share of 1..5
HALF_STARS = (np.arange(1, 11) / 2.0, np.array([0.016, 0.031, 0.017, 0.066, 0.053, 0.196, 0.131, 0.266, 0.088, 0.136]))
START, END = 820_454_400, 1_696_118_400  # 1996-01-01 .. 2023-10-01 (UTC)
YEAR = 365 * 86_400


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate: ``n`` interactions of ``users`` x ``items`` (0: MovieLens' shape for ``n``)."""

    n: int
    users: int = 0
    items: int = 0
    seed: int = 0
    zipf_a: float = 0.9
    user_sigma: float = 1.0
    stars: str = "half"

    def shape(self) -> tuple[int, int]:
        n_ref, u_ref, i_ref = REFERENCE
        users = self.users or max(10, round(u_ref * self.n / n_ref))
        items = self.items or max(50, round(i_ref * (self.n / n_ref) ** ITEM_EXPONENT), round(self.n / (MAX_DENSITY * users)))
        return users, items


def _count(text: str) -> int:
    """``32m``, ``1.5k``, ``3.2e7``, ``1000000`` -> an int."""
    m = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([kmb]?)\s*", text.lower())
    if not m:
        raise ConfigError(f"not a count: {text!r} (e.g. 1000000, 1e6, 32m)")
    return int(round(float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "b": 1e9}[m.group(2)]))


def parse(spec: str) -> SyntheticSpec:
    """``synthetic:N[,users=U][,items=I][,seed=S][,zipf=A][,sigma=S][,stars=whole|half]``."""
    body = spec.removeprefix("synthetic:")
    head, *rest = body.split(",")
    fields: dict = {"n": _count(head)}
    names = {"users": ("users", _count), "items": ("items", _count), "seed": ("seed", int), "zipf": ("zipf_a", float),
             "sigma": ("user_sigma", float), "stars": ("stars", str)}
    for part in rest:
        key, _, value = part.partition("=")
        if key.strip() not in names:
            raise ConfigError(f"{spec!r}: unknown synthetic option {key!r}; options: {', '.join(names)}")
        name, kind = names[key.strip()]
        try:
            fields[name] = kind(value.strip())
        except ValueError:
            raise ConfigError(f"{spec!r}: {key}={value!r} is not a valid value") from None
    out = SyntheticSpec(**fields)
    users, items = out.shape()
    if out.n < 1 or out.stars not in ("whole", "half") or out.n > users * items // 4:
        raise ConfigError(f"{spec!r}: needs n >= 1, stars whole or half, and n at most a quarter of users x items ({users} x {items})")
    return out


def _draw(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices drawn by inverse CDF (int32: fast and memory-light)."""
    return np.searchsorted(cdf, rng.random(n, dtype=np.float32), side="right").astype(np.int32)


def generate(spec: SyntheticSpec) -> Interactions:
    """The interactions ``spec`` describes (ratings and timestamps included), rows in random order."""
    rng = np.random.default_rng(spec.seed)
    n_users, n_items = spec.shape()
    activity = rng.lognormal(0.0, spec.user_sigma, n_users)
    per_user = spec.n / n_users
    activity = np.minimum(activity, activity.mean() * n_items / (4 * per_user))  # nobody has over ~1/4 of the catalogue
    user_cdf = np.cumsum(activity / activity.sum()).astype(np.float32)
    popularity = np.arange(1, n_items + 1, dtype=np.float64) ** -spec.zipf_a
    item_cdf = np.cumsum(popularity / popularity.sum()).astype(np.float32)
    user_cdf[-1] = item_cdf[-1] = 2.0  # float32 rounding never runs past the last id
    item_ids = rng.permutation(n_items).astype(np.int32)  # popular items are not simply the low ids
    keys = np.empty(0, dtype=np.int64)
    for _ in range(60):  # draw pairs, drop repeats, top up the shortfall
        need = spec.n - len(keys)
        if need <= 0:
            break
        extra = max(int(need * 1.3), 64)
        drawn = pairs.encode(_draw(rng, user_cdf, extra), item_ids[_draw(rng, item_cdf, extra)], n_items)
        keys = pairs.sorted_unique(np.concatenate([keys, drawn]))
    if len(keys) < spec.n:
        raise ConfigError(f"could not draw {spec.n:,} distinct pairs over {n_users:,} x {n_items:,}; ask for fewer")
    keys = keys[rng.permutation(len(keys))[: spec.n]]
    users, items = (a.astype(np.int32) for a in pairs.decode(keys, n_items))
    del keys
    values, p = HALF_STARS if spec.stars == "half" else WHOLE_STARS
    ratings = values.astype(np.float32)[_draw(rng, np.cumsum(p / p.sum()).astype(np.float32), spec.n).clip(max=len(p) - 1)]
    start = rng.integers(START, END, n_users)
    stay = np.minimum(rng.exponential(YEAR, n_users), END - start).astype(np.int64) + 1
    timestamps = start[users] + (rng.random(spec.n) * stay[users]).astype(np.int64)
    return Interactions(users, items, IdMap(np.arange(n_users), kind="user"), IdMap(np.arange(n_items), kind="item"), ratings, timestamps,
                        meta={"synthetic": spec.__dict__})


def load_synthetic(spec: str) -> Dataset:
    """``--data synthetic:...``: a :class:`Dataset` of :func:`generate`'s interactions."""
    parsed = parse(spec)
    inter = generate(parsed)
    values = (HALF_STARS if parsed.stars == "half" else WHOLE_STARS)[0]
    return Dataset(name=f"synthetic-{parsed.n}", interactions=inter, rating_values=values.astype(np.float32), source=spec)


def skew(counts: np.ndarray, top: float = 0.1) -> float:
    """Share of all interactions that fall on the ``top`` fraction of the most frequent ids."""
    counts = np.sort(np.asarray(counts))[::-1]
    k = max(1, int(round(top * len(counts))))
    return float(counts[:k].sum() / max(counts.sum(), 1))


__all__ = ["REFERENCE", "SyntheticSpec", "generate", "load_synthetic", "parse", "skew"]
