"""The ML-100K fallback through the recbole==1.2.1 wheel (needs PyPI; marked slow)."""

from __future__ import annotations

import hashlib
import logging
import urllib.error

import pytest

from deeprecs.data import download, load_dataset
from deeprecs.data.recbole_fallback import U_DATA_SHA256, convert_items, convert_users


def test_convert_side_files():
    items = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n" \
            "1\tToy Story\t1995\tAnimation Children's Comedy\n267\tunkonwn\tunkonwn\tunknown\n"
    lines = convert_items(items).splitlines()
    assert lines[0] == "1|Toy Story (1995)||||0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0"
    assert lines[1] == "267|unknown||||1|" + "|".join(["0"] * 18)
    users = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n1\t24\tM\ttechnician\t85711\n"
    assert convert_users(users) == "1|24|M|technician|85711\n"


@pytest.mark.slow
def test_fallback_when_grouplens_is_unreachable(monkeypatch, caplog):
    def refuse(url, timeout=30.0):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(download, "_open_url", refuse)
    with caplog.at_level(logging.INFO, logger="deeprecs"):
        ds = load_dataset("ml-100k")
    assert hashlib.sha256((ds.path / "u.data").read_bytes()).hexdigest() == U_DATA_SHA256
    assert ds.source == "pypi:recbole==1.2.1" and "recbole==1.2.1" in caplog.text
    assert len(ds.interactions) == 100_000 and ds.interactions.shape == (943, 1682)
    assert ds.items.at[1, "title"] == "Toy Story (1995)" and ds.items.at[1, "year"] == 1995.0
    assert ds.items.at[1, "genres"] == "Animation|Children's|Comedy"
    assert ds.users.at[1, "occupation"] == "technician"
    assert load_dataset("ml-100k").source == "pypi:recbole==1.2.1"  # cached: no second pip run
