"""Bad input through the CLI: exit status != 0, one ``error: ...`` line, no traceback, nothing
half-written."""

from __future__ import annotations

import json

import pytest

import deeprecs.pipeline.context


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))


def train_args(data, out, *extra):
    return ("-q", "train", "biased-mf", "--data", data, "--out", out, "--epochs", "1", "--factors", "4",
            "--threads", "1", *extra)


def assert_nothing_written(tmp_path, out):
    assert not out.exists()
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def test_unknown_dataset(cli, tmp_path):
    cli.error(*train_args("no-such-data", tmp_path / "run"), contains=("unknown dataset 'no-such-data'",))
    assert_nothing_written(tmp_path, tmp_path / "run")


@pytest.mark.parametrize("bad_line, fragment", [
    ("3\t7\n", "u.data:5"),  # too few fields
    ("3\t7\tabc\t881250949\n", "u.data:5"),  # non-numeric rating
    ("3\t7\tnan\t881250949\n", "u.data:5"),  # NaN rating
])
def test_malformed_ratings_file_names_file_and_line(cli, tmp_path, write_ml, bad_line, fragment):
    folder = write_ml(tmp_path / "ml")
    lines = (folder / "u.data").read_text().splitlines(keepends=True)
    lines[4] = bad_line
    (folder / "u.data").write_text("".join(lines))
    cli.error(*train_args(folder, tmp_path / "run"), contains=(fragment,))
    assert_nothing_written(tmp_path, tmp_path / "run")


def test_empty_ratings_file(cli, tmp_path, write_ml):
    folder = write_ml(tmp_path / "ml")
    (folder / "u.data").write_text("")
    cli.error(*train_args(folder, tmp_path / "run"), contains=("u.data", "empty"))
    assert_nothing_written(tmp_path, tmp_path / "run")


def test_unknown_user_and_item(cli, trained_run):
    run, _, _ = trained_run
    cli.error("recommend", run, "--user", "9999", contains=("9999",))
    cli.error("recommend", run, "--user", "1", "--user", "abc", contains=("abc",))
    cli.error("similar", run, "--item", "9999", contains=("9999",))


@pytest.mark.parametrize("args, fragment", [
    (("train", "no-such-model"), "unknown model 'no-such-model'"),
    (("train", "biased-mf", "--nope", "3"), "unknown option --nope"),
    (("train", "biased-mf", "--factors", "0"), "factors"),
    (("train", "biased-mf", "--epochs", "-1"), "epochs"),
    (("train", "biased-mf", "--task", "rating", "--loss", "bpr"), "does not fit task"),
    (("train", "mf", "--task", "ranking", "--loss", "mse"), "does not fit task"),
    (("train", "gmf", "--task", "rating"), "supports task(s) ranking"),
    (("train", "bpr-mf", "--loss", "bce"), "--task ranking --loss bce"),
])
def test_bad_model_options(cli, tmp_path, write_ml, args, fragment):
    folder = write_ml(tmp_path / "ml")
    command, model, *rest = args
    cli.error(command, model, "--data", folder, "--out", tmp_path / "run", "--epochs", "1", "--threads", "1", *rest,
              contains=(fragment,))
    assert_nothing_written(tmp_path, tmp_path / "run")


@pytest.mark.parametrize("model", ["mlp", "als"])
def test_recency_on_data_without_timestamps(cli, tmp_path, model):
    data = tmp_path / "log.csv"
    data.write_text("user,item\n1,1\n1,2\n2,2\n2,3\n3,1\n3,3\n")
    cli.error("train", model, "--data", data, "--task", "ranking", "--out", tmp_path / "run", "--recency", "5",
              contains=("--recency needs timestamps", "drop --recency"))
    assert_nothing_written(tmp_path, tmp_path / "run")


@pytest.mark.parametrize("command", [("evaluate",), ("recommend", "--user", "1"), ("similar", "--item", "1"),
                                     ("embeddings", "--out", "x.parquet"), ("params",)])
def test_missing_run_directory(cli, tmp_path, command):
    name, *rest = command
    cli.error(name, tmp_path / "nope", *rest, contains=("not a deeprecs run directory",))


def test_embeddings_of_a_model_without_them_writes_nothing(cli, tmp_path, write_ml):
    folder = write_ml(tmp_path / "ml")
    cli.ok("-q", "train", "popularity", "--data", folder, "--out", tmp_path / "pop")
    cli.error("embeddings", tmp_path / "pop", "--out", tmp_path / "e.parquet", contains=("no item embeddings",))
    assert not (tmp_path / "e.parquet").exists() and not list(tmp_path.glob(".e.parquet*"))


def test_interrupted_training_leaves_no_run_and_keeps_the_old_one(cli, tmp_path, write_ml, monkeypatch):
    folder = write_ml(tmp_path / "ml")
    out = tmp_path / "run"
    cli.ok(*train_args(folder, out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_fit = deeprecs.pipeline.context.fit

    def fit_then_fail(model, task, cfg, *args, **kwargs):
        def on_epoch(row):
            if row["epoch"] == 2:
                raise KeyboardInterrupt  # as if ^C in the middle of training
        return real_fit(model, task, cfg, *args[:3], on_epoch=on_epoch)

    monkeypatch.setattr(deeprecs.pipeline.context, "fit", fit_then_fail)
    result = cli(*train_args(folder, out, "--epochs", "5"))
    assert result.exit_code == 130 and "interrupted" in result.stderr and "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run")] == []
    fresh = tmp_path / "fresh"
    result = cli(*train_args(folder, fresh, "--epochs", "5"))
    assert result.exit_code != 0 and not fresh.exists()
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1


def test_failure_while_saving_leaves_no_run(cli, tmp_path, write_ml, monkeypatch):
    """A crash while the run directory is being written (e.g. the plot) removes the partial copy."""
    import deeprecs.plots

    folder = write_ml(tmp_path / "ml")

    def broken_plot(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(deeprecs.plots, "plot_history", broken_plot)
    result = cli(*train_args(folder, tmp_path / "run"))
    assert result.exit_code != 0
    assert_nothing_written(tmp_path, tmp_path / "run")


@pytest.mark.parametrize("model", ["sasrec", "gru4rec"])
def test_a_sequential_model_on_data_without_timestamps(cli, tmp_path, model):
    data = tmp_path / "log.csv"
    data.write_text("user,item\n" + "".join(f"{u},{i}\n" for u in range(1, 4) for i in range(u, 300, 4)))
    cli.error("train", model, "--data", data, "--split", "loo", "--out", tmp_path / "run", "--epochs", "1",
              contains=(f"{model} reads each user's items in time order, and this data has no timestamps",))
    assert_nothing_written(tmp_path, tmp_path / "run")
