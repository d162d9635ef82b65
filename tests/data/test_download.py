"""fetch(): checksums, atomic writes, local archives and folders, network failures."""

from __future__ import annotations

import hashlib
import io
import logging
import urllib.error
import zipfile

import pytest

from deeprecs.data import download, fetch, load_dataset, registry
from deeprecs.data.registry import DatasetInfo
from deeprecs.errors import ConfigError, DownloadError

U_DATA = b"1\t10\t5\t100\n2\t10\t3\t200\n"
U_ITEM = "10|Toy Story (1995)|01-Jan-1995||http://x|" + "|".join(["0"] * 19) + "\n"


def _zip_bytes(folder="ml-fake", udata=U_DATA) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{folder}/u.data", udata)
        zf.writestr(f"{folder}/u.user", "1|24|M|x|1\n2|30|F|y|2\n")
        zf.writestr(f"{folder}/u.item", U_ITEM)
    return buf.getvalue()


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Register 'ml-fake' (a 100K-layout archive) with a file:// URL and the right sha256."""
    data = _zip_bytes()
    archive = tmp_path / "src" / "ml-fake.zip"
    archive.parent.mkdir()
    archive.write_bytes(data)
    info = DatasetInfo("ml-fake", "ml-fake", "100k", "u.data", "fake", (1.0, 2.0, 3.0, 4.0, 5.0),
                       sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(registry.REGISTRY, "ml-fake", info)
    monkeypatch.setattr(DatasetInfo, "url", property(lambda self: archive.as_uri()))
    return info, archive


def _cache_entries():
    return sorted(p.name for p in download.cache_dir().iterdir())


def test_download_verifies_extracts_and_caches(fake, caplog):
    folder = fetch("ml-fake")
    assert folder == download.cache_dir() / "ml-fake"
    assert (folder / "u.data").read_bytes() == U_DATA
    assert _cache_entries() == ["ml-fake"]  # no temp file or archive left behind
    assert download.read_source(folder).startswith("grouplens:file:")
    with caplog.at_level(logging.INFO, logger="deeprecs"):
        assert fetch("ml-fake") == folder
    assert "cached copy" in caplog.text
    ds = load_dataset("ml-fake")
    assert len(ds.interactions) == 2 and ds.rating_values.tolist() == [1, 2, 3, 4, 5]
    assert ds.source.startswith("grouplens:") and ds.users.at[2, "gender"] == "F"


def test_checksum_mismatch_leaves_nothing(fake, monkeypatch):
    info, _ = fake
    monkeypatch.setitem(registry.REGISTRY, "ml-fake", DatasetInfo(**{**info.__dict__, "sha256": "0" * 64}))
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch("ml-fake")
    assert _cache_entries() == []


def test_from_zip_with_wrong_checksum_leaves_nothing(fake, monkeypatch, tmp_path):
    info, _ = fake
    other = tmp_path / "other.zip"
    other.write_bytes(_zip_bytes(udata=b"1\t1\t1\t1\n"))
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch("ml-fake", from_path=other)
    assert _cache_entries() == []


def test_from_zip_and_from_folder(fake, tmp_path):
    _, archive = fake
    folder = fetch("ml-fake", from_path=archive)
    assert (folder / "u.data").read_bytes() == U_DATA
    assert download.read_source(folder) == f"local:{archive}"
    with pytest.raises(DownloadError, match="no u.data in this folder"):
        fetch("ml-fake", from_path=tmp_path / "src")
    with pytest.raises(DownloadError, match="no such file"):
        fetch("ml-fake", from_path=tmp_path / "nope.zip")


class _Truncated(io.BytesIO):
    headers = {"Content-Length": "1000"}


def test_truncated_download_leaves_nothing(fake, monkeypatch):
    monkeypatch.setattr(download, "_open_url", lambda url, timeout=30.0: _Truncated(b"x" * 10))
    with pytest.raises(DownloadError, match=r"truncated \(10 of 1,000 bytes\)"):
        fetch("ml-fake")
    assert _cache_entries() == []


def test_member_checksums_when_archive_sum_unknown(fake, monkeypatch, caplog):
    info, _ = fake
    bad = DatasetInfo(**{**info.__dict__, "sha256": None, "member_sha256": {"u.data": "f" * 64}})
    monkeypatch.setitem(registry.REGISTRY, "ml-fake", bad)
    with caplog.at_level(logging.WARNING, logger="deeprecs"), pytest.raises(DownloadError, match=r"u\.data sha256 mismatch"):
        fetch("ml-fake")
    assert "no archive checksum known" in caplog.text
    assert _cache_entries() == []
    good = DatasetInfo(**{**bad.__dict__, "member_sha256": {"u.data": hashlib.sha256(U_DATA).hexdigest()}})
    monkeypatch.setitem(registry.REGISTRY, "ml-fake", good)
    assert (fetch("ml-fake") / "u.data").is_file()


def test_network_failure_says_use_from(fake, monkeypatch):
    def refuse(url, timeout=30.0):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(download, "_open_url", refuse)
    with pytest.raises(DownloadError, match=r"no route to host.*--from PATH"):
        fetch("ml-fake")
    assert _cache_entries() == []


def test_unknown_names():
    with pytest.raises(ConfigError, match="known datasets: ml-100k, ml-1m"):
        fetch("ml-7m")
    with pytest.raises(ConfigError, match="unknown dataset 'ml-7m'"):
        load_dataset("ml-7m")


def test_registry_entries():
    assert registry.names() == ["ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m", "ml-latest-small"]
    assert registry.get("ml-10m").url.endswith("/ml-10m.zip") and registry.get("ml-10m").folder == "ml-10M100K"
    assert registry.get("ml-100k").url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert all(desc for _, desc in registry.describe())


def test_cache_dir_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "h"))
    assert download.cache_dir() == tmp_path / "h" and (tmp_path / "h").is_dir()


def test_load_dataset_from_a_movielens_folder(ml100k_dir, tmp_path):
    ds = load_dataset(ml100k_dir)
    assert ds.path == ml100k_dir and ds.source == str(ml100k_dir) and len(ds.interactions) == 6
    with pytest.raises(ConfigError, match="not a MovieLens folder"):
        load_dataset(tmp_path)
    with pytest.raises(ConfigError, match="ncf:PREFIX"):
        load_dataset(tmp_path / "no-such-thing")


def test_from_folder_imports_into_the_cache_and_later_loads_stay_offline(fake, tmp_path, monkeypatch):
    extracted = tmp_path / "mine" / "ml-fake"  # the folder above the release folder is accepted too
    extracted.mkdir(parents=True)
    (extracted / "u.data").write_bytes(U_DATA)
    (extracted / "u.item").write_text(U_ITEM)
    (extracted / "README").write_text("notes")
    folder = fetch("ml-fake", from_path=tmp_path / "mine")
    assert folder == download.cache_dir() / "ml-fake" and folder != extracted
    assert sorted(p.name for p in folder.iterdir()) == [".source", "README", "u.data", "u.item"]
    assert download.read_source(folder) == f"local:{extracted.resolve()}" and _cache_entries() == ["ml-fake"]

    def offline(url, timeout=30.0):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(download, "_open_url", offline)
    (extracted / "u.data").unlink()  # the cache copy is what is used from now on
    ds = load_dataset("ml-fake")
    assert len(ds.interactions) == 2 and ds.source.startswith("local:") and ds.title(10) == "Toy Story (1995)"


def test_from_folder_lacking_files_or_with_a_bad_member_leaves_the_cache_alone(fake, tmp_path, monkeypatch):
    info, archive = fake
    folder = fetch("ml-fake", from_path=archive)  # a good copy already cached
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "u.data").write_bytes(b"1\t1\t1\t1\n")
    with pytest.raises(DownloadError, match=r"mine: lacks u\.item \(ml-fake needs u\.data and u\.item\); pass the folder"):
        fetch("ml-fake", from_path=mine)
    (mine / "u.item").write_text(U_ITEM)
    checked = DatasetInfo(**{**info.__dict__, "member_sha256": {"u.data": hashlib.sha256(U_DATA).hexdigest()}})
    monkeypatch.setitem(registry.REGISTRY, "ml-fake", checked)
    with pytest.raises(DownloadError, match=r"ml-fake: u\.data sha256 mismatch in .*mine \(got .*; pass the folder extracted from ml-fake\.zip"):
        fetch("ml-fake", from_path=mine)
    assert _cache_entries() == ["ml-fake"] and (folder / "u.data").read_bytes() == U_DATA  # nothing lost
