"""Fetch MovieLens archives into the cache, checksummed, atomically.

Layout: ``$DEEPRECS_HOME/<name>/`` holds the extracted files (plus ``.source``, one line saying
where they came from).  Nothing half-done ever sits under a final name: downloads go to a
temporary file in the cache folder, and archives are extracted (extracted folders given with
``--from`` copied) into a temporary folder; both are renamed into place only after every check
passed, and removed on any failure.  Once a dataset is in the cache, loading it by name never
touches the network.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from deeprecs.data import registry
from deeprecs.data.cache import cache_dir, install, read_source
from deeprecs.data.recbole_fallback import fetch_ml100k_from_recbole
from deeprecs.data.registry import DatasetInfo
from deeprecs.errors import DownloadError

log = logging.getLogger("deeprecs")
_CHUNK = 1 << 20


def file_digest(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(name: str, from_path: str | Path | None = None) -> Path:
    """The folder holding dataset ``name``'s extracted files, downloading it if needed.

    ``from_path``: a local ``.zip`` (checksummed like a download, then extracted into the
    cache) or an already extracted folder (its files copied into the cache, checked like an
    archive's members), so that later loads by name find the cache and work offline.
    ml-100k falls back to the copy inside the ``recbole==1.2.1`` wheel when GroupLens is
    unreachable (see :mod:`deeprecs.data.recbole_fallback`).
    """
    info = registry.get(name)
    if from_path is not None:
        return _from_local(info, Path(from_path).expanduser())
    target = cache_dir() / info.name
    if (target / info.ratings_file).is_file():
        log.info("%s: using cached copy in %s (%s)", name, target, read_source(target))
        return target
    try:
        archive = download(info.url, cache_dir(), sha256=info.sha256, md5=info.md5, label=name)
    except _NetworkError as exc:
        if info.name == "ml-100k":
            log.warning("ml-100k: GroupLens unreachable (%s); trying the copy shipped in recbole==1.2.1", exc)
            return fetch_ml100k_from_recbole(target)
        raise DownloadError(
            f"could not download {name} from {info.url} ({exc}); check the network, or download the "
            f"archive yourself and pass it with --from PATH"
        ) from None
    try:
        return extract(archive, info, target, source=f"grouplens:{info.url}")
    finally:
        archive.unlink(missing_ok=True)


class _NetworkError(Exception):
    """The server could not be reached (as opposed to a bad or truncated file)."""


def _open_url(url: str, timeout: float = 30.0):
    """Open ``url`` (monkeypatched in tests)."""
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (https and file:// only)


def download(url: str, folder: Path, *, sha256: str | None, md5: str | None = None, label: str = "") -> Path:
    """Download ``url`` into a temporary file in ``folder``; return it once size and checksum match.

    Raises :class:`DownloadError` (temp file removed) on a truncated body or a checksum
    mismatch, and ``_NetworkError`` when the server cannot be reached at all.
    """
    from tqdm.auto import tqdm

    try:
        response = _open_url(url)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise _NetworkError(getattr(exc, "reason", exc)) from None
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{label or 'download'}-", suffix=".part")
    tmp = Path(tmp_name)
    h256, h5 = hashlib.sha256(), hashlib.md5()
    received = 0
    try:
        with response, os.fdopen(fd, "wb") as out:
            total = response.headers.get("Content-Length") if getattr(response, "headers", None) else None
            total = int(total) if total else None
            with tqdm(total=total, unit="B", unit_scale=True, desc=label or url, disable=None) as bar:
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (OSError, TimeoutError) as exc:
                        raise DownloadError(f"download of {url} broke off after {received:,} bytes ({exc}); run the command again") from None
                    if not chunk:
                        break
                    out.write(chunk)
                    h256.update(chunk)
                    h5.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise DownloadError(f"download of {url} is truncated ({received:,} of {total:,} bytes); run the command again")
        _check_digest(url, h256.hexdigest(), h5.hexdigest(), sha256, md5)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _check_digest(what: str, got256: str, got5: str, sha256: str | None, md5: str | None) -> None:
    if sha256 is not None:
        if got256 != sha256:
            raise DownloadError(f"{what}: sha256 mismatch (got {got256}, expected {sha256}); the file is corrupt, delete it and download again")
    elif md5 is not None:
        log.info("%s: no sha256 known; verifying the md5 GroupLens publishes", what)
        if got5 != md5:
            raise DownloadError(f"{what}: md5 mismatch (got {got5}, expected {md5}); the file is corrupt, delete it and download again")
    else:
        log.warning("%s: no archive checksum known; verifying the known member files instead", what)


def _from_local(info: DatasetInfo, path: Path) -> Path:
    if path.is_dir():
        return import_folder(info, _release_folder(info, path))
    if not path.is_file():
        raise DownloadError(f"{path}: no such file or folder (--from expects {info.name}.zip or its extracted folder)")
    if not zipfile.is_zipfile(path):
        raise DownloadError(f"{path}: not a zip archive (--from expects {info.name}.zip or its extracted folder)")
    _check_digest(str(path), file_digest(path, "sha256"), file_digest(path, "md5"), info.sha256, info.md5)
    return extract(path, info, cache_dir() / info.name, source=f"local:{path}")


def _release_folder(info: DatasetInfo, path: Path) -> Path:
    """``path`` or its ``info.folder`` subfolder, whichever holds the ratings file."""
    for candidate in (path, path / info.folder):
        if (candidate / info.ratings_file).is_file():
            return candidate
    raise DownloadError(f"{path}: no {info.ratings_file} in this folder; pass the folder extracted from {info.name}.zip")


def import_folder(info: DatasetInfo, folder: Path) -> Path:
    """Copy the files of an extracted release (``folder``, top level) into the cache, checked
    like an archive's members, then rename them into place; the cached copy is returned."""
    folder = folder.resolve()
    _require(info, folder, f"{folder}: lacks", f"pass the folder extracted from {info.name}.zip")
    target = cache_dir() / info.name
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{info.name}-", suffix=".import"))
    try:
        files = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.name.startswith(".")]
        for path in files:
            shutil.copyfile(path, tmp / path.name)
        verify_members(tmp, info, where=str(folder), fix=f"pass the folder extracted from {info.name}.zip")
        install(tmp, target, f"local:{folder}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: imported %d files from %s into the cache (%s); loading %s by name now works offline",
             info.name, len(files), folder, target, info.name)
    return target


def _require(info: DatasetInfo, folder: Path, what: str, fix: str) -> None:
    missing = [f for f in info.required_files if not (folder / f).is_file()]
    if missing:
        raise DownloadError(f"{what} {', '.join(missing)} ({info.name} needs {' and '.join(info.required_files)}); {fix}")


def extract(archive: Path, info: DatasetInfo, target: Path, *, source: str) -> Path:
    """Extract ``archive`` into a temp folder, verify its members, then rename it to ``target``."""
    label = source.partition(":")[2] or str(archive)  # the URL or the local path, not the temp file
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{info.name}-", suffix=".extract"))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise DownloadError(f"{label}: broken zip archive ({exc}); download it again") from None
        root = tmp / info.folder
        if not (root / info.ratings_file).is_file():
            root = tmp
            if not (root / info.ratings_file).is_file():
                raise DownloadError(f"{label}: has no {info.folder}/{info.ratings_file}; is it the {info.name} archive?")
        _require(info, root, f"{label}: has no", f"is it the {info.name} archive?")
        verify_members(root, info)
        install(root, target, source)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("%s: extracted into %s (source: %s)", info.name, target, source)
    return target


def verify_members(folder: Path, info: DatasetInfo, *, where: str = "the archive", fix: str = "download it again") -> None:
    """Check the sha256 of the member files the registry knows; :class:`DownloadError` on
    mismatch (``where``/``fix``: what the message calls the source and what it advises)."""
    for member, expected in info.member_sha256.items():
        path = folder / member
        if not path.is_file():
            raise DownloadError(f"{info.name}: {member} is missing from {where}; {fix}")
        got = file_digest(path)
        if got != expected:
            raise DownloadError(f"{info.name}: {member} sha256 mismatch in {where} (got {got}, expected {expected}); {fix}")
    if info.member_sha256:
        log.info("%s: verified sha256 of %s", info.name, ", ".join(info.member_sha256))
