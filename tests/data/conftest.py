"""Shared fixtures for the data tests: tiny hand-made MovieLens files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

U_DATA = (
    "1\t10\t5\t100\n"
    "1\t20\t3\t200\n"
    "2\t10\t4\t150\n"
    "1\t30\t1\t300\n"
    "2\t30\t2\t50\n"
    "3\t20\t5\t400\n"
)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty DEEPRECS_HOME."""
    home = tmp_path / "deeprecs-home"
    monkeypatch.setenv("DEEPRECS_HOME", str(home))
    return home


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture(name="write")
def write_fixture():
    """``write(path, text, encoding="utf-8")``: create parents and write the text."""
    return _write


@pytest.fixture
def ml100k_dir(tmp_path, write) -> Path:
    folder = tmp_path / "ml-100k"
    write(folder / "u.data", U_DATA)
    flags = "|".join(["0"] * 19)
    comedy = "|".join("1" if j in (3, 5) else "0" for j in range(19))  # Animation|Comedy
    write(folder / "u.item", (
        f"10|Toy Story (1995)|01-Jan-1995||http://x|{comedy}\n"
        f"20|Misérables, Les (1995)|01-Jan-1995||http://y|{flags}\n"
        f"30|Untitled|05-Mar-1997||http://z|{flags}\n"
    ), encoding="latin-1")
    write(folder / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n")
    return folder
