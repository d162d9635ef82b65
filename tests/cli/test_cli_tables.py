"""Your own log from the CLI: --columns, --sep, --duplicates and a weight column, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deeprecs.runs import load_run

FAST = ("--threads", "1", "--batch-size", "64")


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))


def write_log(path, sep=";"):
    """A purchase log: customers buy skus in quantities; two groups of taste; (c1, s2) bought twice."""
    rows = ["customer_id;sku;qty;ts".replace(";", sep)]
    rng = np.random.default_rng(0)
    t = 0
    for c in range(24):
        own = [f"s{i}" for i in range(6)] if c % 2 == 0 else [f"s{i}" for i in range(6, 12)]
        for sku in rng.choice(own, 4, replace=False):
            t += 1
            rows.append(sep.join([f"c{c}", str(sku), str(int(rng.integers(1, 9))), str(1_600_000_000 + t)]))
    rows += [sep.join(["c1", "s7", "3", "1700000000"]), sep.join(["c1", "s7", "2", "1700000001"])]
    path.write_text("\n".join(rows) + "\n")
    return path


COLUMNS = "user=customer_id,item=sku,weight=qty,timestamp=ts"


def test_a_semicolon_file_without_sep_gets_a_hint_and_writes_nothing(cli, tmp_path):
    log = write_log(tmp_path / "buys.csv")
    line = cli.error("train", "als", "--data", log, "--out", tmp_path / "run", "--columns", COLUMNS,
                     contains=("customer_id;sku;qty;ts", "--sep ';'"))
    assert "no column" in line and not (tmp_path / "run").exists()


def test_columns_sep_duplicates_and_weights_reach_the_run(cli, tmp_path):
    log = write_log(tmp_path / "buys.csv")
    cli.ok("-q", "train", "als", "--data", log, "--out", tmp_path / "w", "--sep", ";", "--columns", COLUMNS,
           "--duplicates", "sum", "--factors", "4", "--split", "random:0.2", *FAST)
    run = load_run(tmp_path / "w")
    config = json.loads((tmp_path / "w" / "config.json").read_text())
    assert config["columns"] == {"user": "customer_id", "item": "sku", "weight": "qty", "timestamp": "ts"}
    assert config["sep"] == ";" and config["duplicates"] == "sum" and config["task"] == "ranking"
    assert run.train.weights is not None and run.train.timestamps is not None
    from deeprecs.data import load_dataset

    data = load_dataset(str(log), sep=";", duplicates="sum", columns={"user": "customer_id", "item": "sku", "weight": "qty", "timestamp": "ts"})
    inter = data.interactions
    rows = (inter.users == inter.user_map.index("c1")) & (inter.items == inter.item_map.index("s7"))
    assert inter.weights[rows].tolist() == [5.0] and inter.timestamps[rows].tolist() == [1700000001]  # 3 + 2, the latest time
    assert len(inter) == 24 * 4 + 1
    cli.ok("-q", "train", "als", "--data", log, "--out", tmp_path / "nw", "--sep", ";", "--columns", "user=customer_id,item=sku,timestamp=ts",
           "--factors", "4", "--split", "random:0.2", *FAST)
    unweighted = load_run(tmp_path / "nw")
    assert unweighted.train.weights is None
    assert not np.allclose(run.model.item_factors.detach().numpy(), unweighted.model.item_factors.detach().numpy())  # the weights count


@pytest.mark.parametrize("columns, fragment", [("user=customer_id,item=sku,price=qty", "ROLE=COLUMN"), ("customer_id", "ROLE=COLUMN"),
                                               ("user=customer_id,item=nope", "no column(s) 'nope'")])
def test_bad_columns_are_one_line(cli, tmp_path, columns, fragment):
    log = write_log(tmp_path / "buys.csv")
    cli.error("train", "als", "--data", log, "--out", tmp_path / "run", "--sep", ";", "--columns", columns, contains=(fragment,))
    assert not (tmp_path / "run").exists()


def test_a_weight_that_is_not_positive_names_its_line(cli, tmp_path):
    log = write_log(tmp_path / "buys.csv")
    lines = log.read_text().splitlines()
    lines[5] = lines[5].rsplit(";", 2)[0] + ";0;" + lines[5].rsplit(";", 1)[1]
    log.write_text("\n".join(lines) + "\n")
    cli.error("train", "als", "--data", log, "--out", tmp_path / "run", "--sep", ";", "--columns", COLUMNS,
              contains=(f"{log}:6", "weight must be a positive number"))


def test_duplicates_error_refuses_the_repeated_pair(cli, tmp_path):
    log = write_log(tmp_path / "buys.tsv", sep="\t")
    cli.error("train", "als", "--data", log, "--out", tmp_path / "run", "--columns", COLUMNS, "--duplicates", "error",
              contains=("duplicate (user, item) pair", "'c1'", "'s7'"))
