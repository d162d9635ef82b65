"""The MovieLens releases deeprecs knows how to fetch and parse.

Descriptions quote each release's README (movies = the movie list, not only rated ones).

Checksums: GroupLens publishes an ``.md5`` file beside each archive but no sha256.  We record
a sha256 only where we know the published value for certain; otherwise ``sha256`` is ``None``
and :mod:`deeprecs.data.download` verifies (and logs that it verifies) the GroupLens md5 of
the archive where known, plus the sha256 of the member files listed in ``member_sha256``
(values cross-checked against reference copies of those files).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deeprecs.errors import ConfigError

BASE_URL = "https://files.grouplens.org/datasets/movielens"
_HALF_STARS = tuple(np.arange(1, 11) / 2)
_WHOLE_STARS = (1.0, 2.0, 3.0, 4.0, 5.0)
_ITEMS_FILE = {"100k": "u.item", "dat": "movies.dat", "csv": "movies.csv"}


@dataclass(frozen=True)
class DatasetInfo:
    """One MovieLens release.

    ``folder``: the top folder inside the zip; ``fmt``: ``"100k"`` (``u.data`` & co),
    ``"dat"`` (``::``-separated, 1M/10M) or ``"csv"`` (header + commas, 20M and later);
    ``ratings_file``: the file that marks an extracted copy (see also :attr:`required_files`).
    """

    name: str
    folder: str
    fmt: str
    ratings_file: str
    description: str
    rating_values: tuple[float, ...]
    sha256: str | None = None
    md5: str | None = None
    member_sha256: dict[str, str] = field(default_factory=dict)
    archive: str | None = None

    @property
    def url(self) -> str:
        return f"{BASE_URL}/{self.archive or self.name + '.zip'}"

    @property
    def required_files(self) -> tuple[str, ...]:
        """What an archive or extracted folder must hold: the ratings and the item list."""
        return (self.ratings_file, _ITEMS_FILE[self.fmt])


# sha256 of the archives: not published by GroupLens and not known to us for certain -> None
# (see the module docstring for what is verified instead).  md5: GroupLens' published .md5 files.
REGISTRY: dict[str, DatasetInfo] = {
    info.name: info
    for info in [
        DatasetInfo(
            "ml-100k", "ml-100k", "100k", "u.data",
            "MovieLens 100K (1998): 100,000 ratings 1-5, 943 users, 1,682 movies, user features",
            _WHOLE_STARS, sha256=None, md5="0e33842e24a9c977be4e0107933c0723",
            member_sha256={"u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"},
        ),
        DatasetInfo(
            "ml-1m", "ml-1m", "dat", "ratings.dat",
            "MovieLens 1M (2003): 1,000,209 ratings 1-5, 6,040 users, 3,900 movies (3,706 rated), user features",
            _WHOLE_STARS, sha256=None, md5="c4d9eecfca2ab87c1945afe126590906",
            member_sha256={
                "movies.dat": "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9",
                "users.dat": "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3",
            },
        ),
        DatasetInfo(
            "ml-10m", "ml-10M100K", "dat", "ratings.dat",
            "MovieLens 10M (2009): 10,000,054 ratings 0.5-5, 71,567 users, 10,681 movies",
            _HALF_STARS, sha256=None, md5="ce571fd55effeba0271552578f2648bd", archive="ml-10m.zip",
        ),
        DatasetInfo(
            "ml-20m", "ml-20m", "csv", "ratings.csv",
            "MovieLens 20M (2015): 20,000,263 ratings 0.5-5, 138,493 users, 27,278 movies",
            _HALF_STARS, sha256=None, md5="cd245b17a1ae2cc31bb14903e1204af3",
        ),
        DatasetInfo(
            "ml-25m", "ml-25m", "csv", "ratings.csv",
            "MovieLens 25M (2019): 25,000,095 ratings 0.5-5, 162,541 users, 62,423 movies",
            _HALF_STARS, sha256=None, md5="6b51fb2759a8657d3bfcbfc42b592ada",
        ),
        DatasetInfo(
            "ml-32m", "ml-32m", "csv", "ratings.csv",
            "MovieLens 32M (2024): 32,000,204 ratings 0.5-5, 200,948 users, 87,585 movies",
            _HALF_STARS, sha256=None, md5=None,
        ),
        DatasetInfo(
            "ml-latest-small", "ml-latest-small", "csv", "ratings.csv",
            "MovieLens latest-small (changes over time; 2018: 100,836 ratings 0.5-5, 610 users, 9,742 movies)",
            _HALF_STARS, sha256=None, md5=None,
            # Changes with each release: no member checksum either (the 2018 ratings.csv is
            # aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646).
        ),
    ]
}


def names() -> list[str]:
    """The known dataset names, in registry order."""
    return list(REGISTRY)


def get(name: str) -> DatasetInfo:
    """The registry entry for ``name``; :class:`ConfigError` listing the known names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(REGISTRY)}") from None


def describe() -> list[tuple[str, str]]:
    """``(name, one-line description)`` pairs for ``deeprecs datasets``."""
    return [(info.name, info.description) for info in REGISTRY.values()]
