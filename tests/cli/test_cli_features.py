"""Features from the CLI: the user's own tables with column roles, saved with the run and loaded
back, reported in metrics.json; --no-features; bad tables are one line and write nothing."""

from __future__ import annotations

import json

import pytest

from deeprecs.runs import load_run

FAST = ("--threads", "1", "--batch-size", "64", "--epochs", "2", "--factors", "4")


@pytest.fixture
def data(tmp_path, monkeypatch, write_ml):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))
    return write_ml(tmp_path / "ml")  # users 1..30, items 1..24 (u.item: genres, year; no u.user)


def users_table(path, bad_line: str | None = None):
    rows = ["uid,age,country"] + [f"{u},{18 + u},{'fr' if u % 2 else ''}" for u in range(1, 29)] + ["99,40,de"]
    if bad_line:
        rows.insert(5, bad_line)
    path.write_text("\n".join(rows) + "\n")
    return path


def test_the_users_table_reaches_the_run_and_loads_back(cli, tmp_path, data):
    table = users_table(tmp_path / "users.csv")
    out = tmp_path / "run"
    cli.ok("-q", "train", "fm", "--data", data, "--out", out, "--user-features", table, "--user-feature-columns",
           "age=bucket:3,country=categorical", *FAST)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["user_features"] == "age=bucket:3,country=categorical"
    assert metrics["user_feature_rows_not_in_interactions"] == 1 and metrics["user_feature_ids_without_row"] == 2
    assert metrics["item_features"] == "genres=multi:|,year=bucket:10"
    run = load_run(out)
    assert run.features.users.names()[-2:] == ["country=fr", "country=<missing>"]
    assert run.features.users.n_rows == len(run.user_map) and run.model.config.n_user_features == run.features.users.n_features


def test_no_features_means_none(cli, tmp_path, data):
    out = tmp_path / "run"
    cli.ok("-q", "train", "fm", "--data", data, "--out", out, "--no-features", *FAST)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["user_features"] == metrics["item_features"] == "none"
    assert not (out / "features.json").exists()


@pytest.mark.parametrize("bad,fragment", [("50,old,fr", "users.csv:6: age must be a number, got 'old'"),
                                          ("3,20,fr", "users.csv:6: id '3' appears twice"),
                                          ("7,20,fr,extra", "users.csv")])
def test_a_malformed_table_is_one_line_naming_file_and_line_and_writes_nothing(cli, tmp_path, data, bad, fragment):
    table = users_table(tmp_path / "users.csv", bad)
    out = tmp_path / "run"
    cli.error("train", "fm", "--data", data, "--out", out, "--user-features", table, "--user-feature-columns", "age=bucket:3", *FAST,
              contains=(fragment,))
    assert not out.exists()


def test_features_for_a_model_that_reads_none_are_refused(cli, tmp_path, data):
    cli.error("train", "biased-mf", "--data", data, "--out", tmp_path / "run", "--user-features", users_table(tmp_path / "u.csv"),
              contains=("reads no features",))


def test_new_users_and_items_by_features_without_retraining(cli, tmp_path, data):
    out = tmp_path / "run"
    cli.ok("-q", "train", "fm", "--data", data, "--out", out, "--user-features", users_table(tmp_path / "u.csv"),
           "--user-feature-columns", "age=bucket:3,country=categorical", "--task", "ranking", "--positive", "4", *FAST)
    plain = json.loads(cli.ok("recommend", out, "--new-user", "age=30,country=fr", "-k", "5", "--json").stdout)
    liked = json.loads(cli.ok("recommend", out, "--new-user", "age=30,country=fr", "--liked", "1,3", "-k", "5", "--json").stdout)
    assert len(plain["recommendations"]) == 5 and {1, 3}.isdisjoint(r["item"] for r in liked["recommendations"])
    assert [r["score"] for r in plain["recommendations"]] != [r["score"] for r in liked["recommendations"]]  # the liked items count
    new = json.loads(cli.ok("similar", out, "--new-item", "genres=,year=1995", "-k", "3", "--json").stdout)
    assert len(new["similar"]) == 3 and len(new["users"]) == 3
    cli.error("recommend", out, "--new-user", "colour=red", contains=("unknown user feature column(s) colour",))
    cli.error("similar", out, contains=("give --item",))
