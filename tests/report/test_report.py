"""``deeprecs report``: one self-contained page from tiny runs trained in-process."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from deeprecs.cli.main import cli
from deeprecs.errors import ConfigError
from deeprecs.pipeline import TrainSpec, train
from deeprecs.report import build_report

SECTIONS = ("runs", "metrics", "curves", "scatter", "embeddings", "item-map")
GENRES = ["Action", "Comedy", "Drama"]  # flag positions 1, 5, 8 of MovieLens' 19 genres
FLAG_AT = {"Action": 1, "Comedy": 5, "Drama": 8}


def write_movielens(folder: Path, genres: bool, n_users: int = 30, n_items: int = 24) -> Path:
    """A tiny ML-100K folder: two taste groups (odd/even items), optional genre flags."""
    lines = []
    for u in range(1, n_users + 1):
        for i in range(1, n_items + 1):
            if (u * 7 + i * 3) % 5 < 3:  # about 60% of the pairs, deterministic
                rating = 5 if (u % 2) == (i % 2) else 1
                lines.append(f"{u}\t{i}\t{rating}\t{880000000 + 100 * u + i}\n")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("".join(lines))
    rows = []
    for i in range(1, n_items + 1):
        flags = ["0"] * 19
        if genres:
            flags[FLAG_AT[GENRES[i % 3]]] = "1"
        rows.append(f"{i}|Movie {i} (1995)|01-Jan-1995||http://example.org/{i}|{'|'.join(flags)}\n")
    (folder / "u.item").write_text("".join(rows), encoding="latin-1")
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Three runs: biased-mf (rating) and bpr-mf (ranking) with genres; popularity (no vectors,
    no epochs) on data without genres."""
    root = tmp_path_factory.mktemp("report-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPRECS_HOME", str(root / "home"))
        genres = write_movielens(root / "ml-genres", genres=True)
        plain = write_movielens(root / "ml-plain", genres=False)
        options = {"epochs": 2, "threads": 1}
        out = {}
        for name, model, data in (("mf", "biased-mf", genres), ("bpr", "bpr-mf", genres), ("pop", "popularity", plain)):
            out[name] = root / name
            train(TrainSpec(model=model, data=str(data), train_options=options if model != "popularity" else {}),
                  out=out[name], progress=False)
    return out


def png_images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def assert_self_contained(page: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    assert "url(" not in page


def test_two_runs_page_has_every_section(runs, tmp_path):
    path = build_report([runs["mf"], runs["bpr"]], tmp_path / "out" / "report.html")
    page = path.read_text()
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    for heading in ("Metrics", "Training curves", "Metric vs fit time", "Embedding distributions", "Item map"):
        assert f"<h2>{heading}</h2>" in page
    images = png_images(page)
    # curves, scatter, 2 box plots, 2 item maps
    assert len(images) == 6 and all(img.startswith(b"\x89PNG\r\n\x1a\n") for img in images)
    assert_self_contained(page)
    assert "<th>rmse ↓</th>" in page and "<th>auc ↑</th>" in page  # union of both runs' metrics
    assert 'class="best"' in page  # e.g. fit_seconds, which both runs have
    assert ">dim_0</td>" in page and "<th>75%</th>" in page  # the describe() table
    assert "no genres" not in page.lower()
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temporary file left


def test_one_run_and_missing_pieces_degrade_to_notes(runs, tmp_path):
    page = build_report([runs["pop"]], tmp_path / "pop.html").read_text()
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in page
    assert "has no item embeddings" in page
    assert "No training epochs recorded for: pop" in page
    assert 'class="best"' not in page  # nothing to compare with one run
    assert_self_contained(page)


def test_one_run_without_genres_still_maps(runs, tmp_path, monkeypatch):
    import pandas as pd

    from deeprecs.report import run_info as report_runs

    original = report_runs.gather

    def without_side_data(paths):
        infos = original(paths)
        for info in infos:
            info.items, info.genres = pd.DataFrame({"year": [1995.0]}, index=[1]), None
        return infos

    monkeypatch.setattr("deeprecs.report.page.gather", without_side_data)
    page = build_report([runs["mf"]], tmp_path / "mf.html").read_text()
    assert "No genres in this run" in page and "No titles in this run" in page
    assert len(png_images(page)) == 4  # curves, scatter, box plot, map


def test_tsne_map(runs, tmp_path):
    page = build_report([runs["mf"]], tmp_path / "tsne.html", method="tsne").read_text()
    assert "item map: tsne" in page and len(png_images(page)) == 4


def test_unknown_or_missing_map_method_is_refused_before_work(runs, tmp_path):
    with pytest.raises(ConfigError):
        build_report([runs["mf"]], tmp_path / "x.html", method="mds")
    pytest.importorskip("sklearn")
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="umap-learn"):
            build_report([runs["mf"]], tmp_path / "x.html", method="umap")
    assert not (tmp_path / "x.html").exists()


def test_cli_prints_the_path(runs, tmp_path):
    out = tmp_path / "cli.html"
    result = CliRunner().invoke(cli, ["report", str(runs["pop"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out)
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_cli_refuses_a_folder_that_is_no_run(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "not a deeprecs run directory" in result.output
    assert not (tmp_path / "r.html").exists()


def test_same_folder_names_are_told_apart(runs, tmp_path):
    from deeprecs.report.run_info import unique_names

    assert unique_names([Path("a/run"), Path("b/run"), Path("c/other")]) == ["a/run", "b/run", "other"]
