"""The data paths a newcomer meets first, end to end through the CLI: NCF-family files in
their variants, and ``fetch NAME --from FOLDER`` importing into the cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_ncf_counts(folder: Path, n_users: int = 30, n_items: int = 120, seed: int = 0) -> Path:
    """``v.train.rating`` as another repository ships it: a header, spaces, CRLF, a count column;
    ``v.test.rating`` with 2 columns; ``v.test.negative`` as in the NCF files."""
    rng = np.random.default_rng(seed)
    train, test, negatives = ["user item count"], [], []
    for u in range(n_users):
        items = [int(i) for i in rng.choice(n_items, 6, replace=False)]
        items += [i for i in range(4 * u, 4 * u + 4) if i not in items]  # every item in someone's rows
        held_out = items.pop(0)
        train += [f"{u} {i} {rng.integers(1, 60)}" for i in items]
        test.append(f"{u}\t{held_out}")
        negs = [j for j in range(n_items) if j not in items and j != held_out][:5]
        negatives.append(f"({u},{held_out})\t" + "\t".join(map(str, negs)))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "v.train.rating").write_bytes(("\r\n".join(train) + "\r\n").encode())
    (folder / "v.test.rating").write_text("\n".join(test) + "\n")
    (folder / "v.test.negative").write_text("\n".join(negatives) + "\n")
    return folder / "v"


def test_train_on_ncf_variant_reports_the_format_in_metrics(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))
    prefix = write_ncf_counts(tmp_path / "ncf")
    cli.ok("-q", "train", "popularity", "--data", f"ncf:{prefix}", "--out", tmp_path / "run")
    n_train = Path(f"{prefix}.train.rating").read_text().count("\n") - 1  # less the header
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {k: v for k, v in metrics.items() if "_file_" in k} == {
        "split_train_file_columns": 3, "split_train_file_rows": n_train, "split_train_file_header": 1,
        "split_train_file_crlf": 1, "split_train_file_counts": 1,
        "split_test_file_columns": 2, "split_test_file_rows": 30, "split_test_file_header": 0, "split_test_file_crlf": 0}
    assert metrics["n_users_evaluated"] == 30 and 0 < metrics["hr@10"] <= 1
    notes = json.loads((tmp_path / "run" / "config.json").read_text())["split_notes"]
    assert "3 whitespace-separated columns (user, item, counts), header, CRLF" in notes["format"]


def test_ncf_variant_with_a_bad_line_names_it(tmp_path, cli):
    prefix = write_ncf_counts(tmp_path / "ncf")
    path = Path(f"{prefix}.train.rating")
    lines = path.read_bytes().split(b"\r\n")
    lines[4] = b"3 17"
    path.write_bytes(b"\r\n".join(lines))
    cli.error("train", "popularity", "--data", f"ncf:{prefix}", "--out", tmp_path / "run",
              contains=("v.train.rating:5: expected 3 whitespace-separated fields, found 2",))
    assert not (tmp_path / "run").exists()


def write_latest_small(folder: Path, n_users: int = 20, n_items: int = 30, seed: int = 0) -> Path:
    """A tiny folder in the ml-latest-small layout: ``ratings.csv`` and ``movies.csv``."""
    rng = np.random.default_rng(seed)
    rows = [f"{u},{i},{rng.integers(1, 11) / 2:g},{964980000 + 10 * u + k}"
            for u in range(1, n_users + 1) for k, i in enumerate(sorted(rng.choice(np.arange(1, n_items + 1), 8, replace=False)))]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + "\n".join(rows) + "\n")
    (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(
        f'{i},"Film {i}, The (199{i % 10})",Drama|Comedy\n' for i in range(1, n_items + 1)))
    return folder


def test_fetch_from_folder_imports_and_train_by_name_stays_offline(tmp_path, cli, monkeypatch):
    from deeprecs.data import download

    home = tmp_path / "home"
    monkeypatch.setenv("DEEPRECS_HOME", str(home))
    mine = write_latest_small(tmp_path / "ml-latest-small")
    out = cli.ok("fetch", "ml-latest-small", "--from", mine).stdout.strip()
    assert Path(out) == home / "ml-latest-small" and (home / "ml-latest-small" / "movies.csv").is_file()
    for name in ("ratings.csv", "movies.csv"):
        (mine / name).unlink()  # the cache copy is what is used from now on

    def offline(url, timeout=30.0):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(download, "_open_url", offline)
    cli.ok("-q", "train", "biased-mf", "--data", "ml-latest-small", "--out", tmp_path / "run", "--epochs", "2", *cli.fast)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["source"] == f"local:{mine.resolve()}" and config["rating_values"][0] == 0.5
    recs = cli.ok("recommend", tmp_path / "run", "--user", "1", "-k", "3").stdout
    assert "Film " in recs  # titles came along from movies.csv


def test_fetch_from_folder_lacking_the_item_list_says_so(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))
    mine = write_latest_small(tmp_path / "mine")
    (mine / "movies.csv").unlink()
    cli.error("fetch", "ml-latest-small", "--from", mine,
              contains=("mine: lacks movies.csv (ml-latest-small needs ratings.csv and movies.csv)",))
    assert not (tmp_path / "home" / "ml-latest-small").exists()
