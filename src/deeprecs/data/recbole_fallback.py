"""Offline fallback for ML-100K: rebuild the GroupLens files from the ``recbole==1.2.1`` wheel.

The RecBole wheel on PyPI ships ``recbole/dataset_example/ml-100k/`` in its atomic format:
``ml-100k.inter`` (header + ``user item rating timestamp``, tab-separated, the rows of
``u.data`` in the same order), ``ml-100k.item`` (``item_id  movie_title  release_year
class``, titles without the ``(year)`` suffix, genres space-separated, UTF-8) and
``ml-100k.user`` (``user_id age gender occupation zip_code``).  We fetch the wheel with pip
(as an ordinary client), check that the ratings are byte-identical to the original ``u.data``
(sha256), and write ``u.data``, ``u.item`` (latin-1, the 100K layout with 19 genre flags) and
``u.user`` into the cache.  Release dates and IMDb URLs are not in the wheel and stay empty.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from deeprecs.data.cache import install
from deeprecs.errors import DownloadError

log = logging.getLogger("deeprecs")

PACKAGE = "recbole==1.2.1"
SOURCE = f"pypi:{PACKAGE}"
U_DATA_SHA256 = "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
    "Thriller", "War", "Western",
]


def fetch_ml100k_from_recbole(target: Path) -> Path:
    """Write ``u.data``/``u.item``/``u.user`` rebuilt from the RecBole wheel into ``target``."""
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=".ml-100k-", suffix=".recbole"))
    try:
        wheel = _pip_download(work / "wheel")
        out = work / "ml-100k"
        out.mkdir()
        with zipfile.ZipFile(wheel) as zf:
            members = {Path(n).name: n for n in zf.namelist() if "/dataset_example/ml-100k/" in n}
            missing = {"ml-100k.inter", "ml-100k.item", "ml-100k.user"} - set(members)
            if missing:
                raise DownloadError(f"{wheel.name}: lacks {', '.join(sorted(missing))}; pass the GroupLens archive with --from PATH")
            inter = zf.read(members["ml-100k.inter"])
            item_text = zf.read(members["ml-100k.item"]).decode("utf-8")
            user_text = zf.read(members["ml-100k.user"]).decode("utf-8")
        u_data = inter.split(b"\n", 1)[1]  # strip the "user_id:token ..." header line
        got = hashlib.sha256(u_data).hexdigest()
        if got != U_DATA_SHA256:
            raise DownloadError(f"{PACKAGE}: ml-100k.inter does not match u.data (sha256 {got}); pass the GroupLens archive with --from PATH")
        (out / "u.data").write_bytes(u_data)
        (out / "u.item").write_bytes(convert_items(item_text).encode("latin-1", errors="replace"))
        (out / "u.user").write_text(convert_users(user_text), encoding="latin-1")
        (out / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)) + "\n")
        install(out, target, SOURCE)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.warning("ml-100k: source %s (u.data verified by sha256); cached in %s", SOURCE, target)
    return target


def _pip_download(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "--quiet", "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DownloadError(f"GroupLens unreachable and pip could not fetch {PACKAGE} ({exc}); pass ml-100k.zip with --from PATH") from None
    wheels = sorted(dest.glob("recbole-*.whl"))
    if proc.returncode != 0 or not wheels:
        reason = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise DownloadError(f"GroupLens unreachable and pip could not fetch {PACKAGE} ({reason}); pass ml-100k.zip with --from PATH")
    return wheels[0]


def _read_atomic(text: str) -> pd.DataFrame:
    """A RecBole atomic file (``name:type`` header, tab-separated) as strings."""
    lines = text.splitlines()
    header = [h.split(":")[0] for h in lines[0].split("\t")]
    rows = [line.split("\t") for line in lines[1:] if line]
    return pd.DataFrame(rows, columns=header)


def convert_items(text: str) -> str:
    """``ml-100k.item`` -> ``u.item`` lines (``id|title (year)|||url|19 genre flags``)."""
    df = _read_atomic(text)
    title = df["movie_title"].replace("unkonwn", "unknown")
    year = df["release_year"].where(df["release_year"].str.fullmatch(r"\d{4}"), "")
    title = title.where(year == "", title + " (" + year + ")")
    genre_sets = df["class"].str.split(" ")
    flags = np.zeros((len(df), len(GENRES)), dtype=np.int8)
    for j, genre in enumerate(GENRES):  # loop over 19 genres, not over rows
        flags[:, j] = genre_sets.map(lambda gs, g=genre: g in gs).to_numpy()
    flag_text = pd.Series(["|".join(map(str, row)) for row in flags.tolist()])
    lines = df["item_id"] + "|" + title + "||||" + flag_text
    return "\n".join(lines) + "\n"


def convert_users(text: str) -> str:
    """``ml-100k.user`` -> ``u.user`` lines (``id|age|gender|occupation|zip``)."""
    df = _read_atomic(text)
    cols = ["user_id", "age", "gender", "occupation", "zip_code"]
    return "\n".join(df[cols].agg("|".join, axis=1)) + "\n"
