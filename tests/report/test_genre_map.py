"""The item map coloured by genre: from the run's item feature table where the item data has no
genres (a run on the user's own items), each genre one colour, with a legend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deeprecs.data.features import FeatureTable, parse_columns
from deeprecs.pipeline import TrainSpec, train
from deeprecs.report import figures
from deeprecs.report.projection import feature_genres
from deeprecs.report.run_info import gather

GENRE_OF = ["Action", "Comedy|Drama", "Drama"]  # item i: GENRE_OF[i % 3]; primary = the first alphabetically


def test_feature_genres_take_each_rows_first_genre_of_the_genre_column():
    table = pd.DataFrame({"year": [1990, 2000, 1995, 1980], "genres": ["Drama|Comedy", "Action", None, "Western|Action"]},
                         index=[10, 11, 12, 13])
    features = FeatureTable.build(table, np.array([13, 10, 11, 12, 99]), parse_columns("year=bucket:2,genres=multi:|"))
    assert feature_genres(features, np.arange(5)).tolist() == ["Action", "Comedy", "Action", "", ""]
    assert feature_genres(features, np.array([1])).tolist() == ["Comedy"]
    no_genres = FeatureTable.build(table, np.array([10, 11]), parse_columns("year=bucket:2"))
    assert feature_genres(no_genres, np.arange(2)) is None and feature_genres(None, np.arange(2)) is None


def test_each_genre_gets_one_colour_most_frequent_first_and_the_rest_are_other(monkeypatch):
    monkeypatch.setattr(figures, "N_GENRE_COLORS", 2)
    genres = np.array(["Drama", "Comedy", "Drama", "", "Horror", "Comedy", "Drama"], dtype=object)
    entry, legend = figures.genre_colours(genres)
    assert [name for name, _ in legend] == ["Drama", "Comedy", "other / unknown"]
    assert entry.tolist() == [0, 1, 0, 2, 2, 1, 0]
    assert len({colour for _, colour in legend}) == 3


def test_the_figure_colours_points_by_genre_with_a_legend(monkeypatch):
    shown = {}
    monkeypatch.setattr(figures, "png_bytes", lambda fig: shown.setdefault("fig", fig) and b"png")
    genres = np.array(["Drama", "Comedy", "Drama", ""], dtype=object)
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    figures.item_map(coords, genres, [(0, "first")], "PCA", "map")
    ax = shown["fig"].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Drama (2)", "Comedy (1)", "other / unknown"]
    by_label = {c.get_label(): (c.get_offsets().tolist(), tuple(c.get_facecolor()[0][:3])) for c in ax.collections if c.get_label()[0] != "_"}
    assert by_label["Drama (2)"][0] == [[0.0, 0.0], [0.0, 1.0]] and by_label["Comedy (1)"][0] == [[1.0, 0.0]]
    assert by_label["other / unknown"][0] == [[1.0, 1.0]]
    assert len({colour for _, colour in by_label.values()}) == 3


@pytest.fixture(scope="module")
def run_with_item_features(tmp_path_factory, write_ml):
    """fm on tiny MovieLens data whose u.item has no genres, with an item table that has them."""
    root = tmp_path_factory.mktemp("genre-map")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPRECS_HOME", str(root / "home"))
        data = write_ml(root / "ml")
        table = root / "items.csv"
        table.write_text("item,genres\n" + "".join(f"{i},{GENRE_OF[i % 3]}\n" for i in range(1, 25)))
        out = root / "run"
        train(TrainSpec(model="fm", data=str(data), item_features=str(table), model_options={"factors": 4},
                        train_options={"epochs": 1, "threads": 1, "batch_size": 64}), out=out, progress=False)
    return out


def test_a_run_with_genre_features_has_a_coloured_map(run_with_item_features, tmp_path):
    from deeprecs.report import build_report

    (info,) = gather([run_with_item_features])
    expected = [GENRE_OF[int(i) % 3].split("|")[0] for i in info.item_ids]
    assert info.genres.tolist() == expected
    page = build_report([run_with_item_features], tmp_path / "report.html").read_text()
    assert "item-map" in page and "No genres" not in page
