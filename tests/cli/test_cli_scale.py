"""Scale on the command line: --memory-budget (a refusal in one line, or a blend without what does not
fit) and --data synthetic:N (int32 ids through the whole pipeline)."""

import json

TINY = 1e-6  # GiB: about 1 KB


def test_cli_refuses_ease_over_the_budget_and_writes_nothing(cli, movielens_dir, tmp_path):
    out = tmp_path / "run"
    cli.error("train", "ease", "--data", movielens_dir, "--positive", "4", "--out", out, "--memory-budget", TINY,
              contains=("ease on 24 items needs about", "--memory-budget"))
    assert not out.exists()


def test_cli_ranking_blend_trains_without_the_members_over_the_budget(cli, movielens_dir, tmp_path):
    out = tmp_path / "blend"
    cli.ok("-q", "train", "blend", "--task", "ranking", "--data", movielens_dir, "--positive", "4", "--out", out,
           "--memory-budget", TINY, "--epochs", "2", "--threads", "1", "--combiner", "linear")
    assert json.loads((out / "config.json").read_text())["model_config"]["members"] == ["bpr-mf", "als"]


def test_cli_trains_on_a_synthetic_log(cli, tmp_path):
    out = tmp_path / "run"
    cli.ok("-q", "train", "biased-mf", "--data", "synthetic:4000", "--out", out, "--epochs", "1", "--threads", "1")
    assert (out / "model.pt").exists()
    cli.ok("-q", "train", "bpr-mf", "--data", "synthetic:4000", "--split", "loo", "--out", tmp_path / "loo", "--epochs", "1", "--threads", "1")
