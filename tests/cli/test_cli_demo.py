"""``make demo`` as a newcomer sees it: the Makefile's own demo commands, run on a tiny generated
MovieLens folder in place of ML-100K. Rating metrics come from biased MF; the recommendations
shown come from a top-K model and are well-evidenced items, not the rarely-rated ones."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RARE = range(61, 67)  # items that 4 users each rated 5 (the others: about 65 ratings each)


def demo_commands() -> list[list[str]]:
    """The ``deeprecs`` command lines of the Makefile's ``demo`` recipe."""
    lines = (ROOT / "Makefile").read_text().split("\ndemo:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    return [shlex.split(line.strip())[1:] for line in lines if line.strip().startswith("$(DR) ")]


def write_demo_folder(folder: Path, seed: int = 2) -> Path:
    """ML-100K's shape in small: 420 users (so 1, 196 and 405 exist) who rate 10 of items 1..60
    each, with a mild planted taste (liked: 3-5 stars, else 2-4), and items 61..66 that 4 users
    each rated 5: few ratings, all high, as the obscure films a rating model put on top."""
    rng = np.random.default_rng(seed)
    lines = []
    for u in range(1, 421):
        for i in rng.choice(np.arange(1, 61), 10, replace=False):
            stars = rng.choice([3, 4, 5] if u % 2 == i % 2 else [2, 3, 4])
            lines.append(f"{u}\t{i}\t{stars}\t{880000000 + u}\n")
    raters = [u for u in range(2, 420) if u not in (196, 405)]
    lines += [f"{raters[4 * k + j]}\t{item}\t5\t890000000\n" for k, item in enumerate(RARE) for j in range(4)]
    folder.mkdir(parents=True)
    (folder / "u.data").write_text("".join(lines))
    flags = "|".join(["0"] * 19)
    (folder / "u.item").write_text("".join(f"{i}|{'Rare' if i in RARE else 'Film'} {i} (1995)|01-Jan-1995||http://x/{i}|{flags}\n"
                                           for i in range(1, 67)), encoding="latin-1")
    return folder


def test_demo_recommends_well_evidenced_items_from_a_top_k_model(tmp_path, cli, monkeypatch):
    monkeypatch.setenv("DEEPRECS_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    folder = write_demo_folder(tmp_path / "ml-tiny")
    commands = demo_commands()
    outputs = {}
    for args in commands:
        if args[0] == "fetch":
            continue  # the network step: the folder stands in for ml-100k
        args = [str(folder) if a == "ml-100k" else a for a in args]
        outputs.setdefault(args[0], []).append(cli.ok(*args, *(["--json"] if args[0] in ("recommend", "similar") else [])).stdout)

    runs = {c[1]: Path(c[c.index("--out") + 1]) for c in commands if c[0] == "train"}
    rating_run = runs["biased-mf"]  # the rating metrics stay: biased MF's RMSE
    assert 0 < json.loads((rating_run / "metrics.json").read_text())["rmse"] < 2
    recommend = next(c for c in commands if c[0] == "recommend")
    shown_run = Path(recommend[1])
    assert json.loads((shown_run / "config.json").read_text())["task"] == "ranking"  # a top-K model and ranking
    assert json.loads((shown_run / "metrics.json").read_text())["ndcg@10"] > 0

    ratings = np.loadtxt(folder / "u.data", dtype=np.int64)
    counts = np.bincount(ratings[:, 1])
    blocks = json.loads(outputs["recommend"][0])
    assert [b["user"] for b in blocks] == ["1", "196", "405"]
    shown = [r["item"] for b in blocks for r in b["recommendations"]]
    assert len(shown) == 15 and not set(shown) & set(RARE)
    assert counts[shown].min() >= np.median(counts[1:]) / 2  # well-evidenced: the rare ones have 4 ratings
    similar = [r["item"] for r in json.loads(outputs["similar"][0])["similar"]]
    assert similar and not set(similar) & set(RARE)
    # why: ranked by predicted rating, the rating model puts the rare, all-5 items on top (the old demo)
    by_rating = json.loads(cli.ok("recommend", rating_run, "--user", "1", "--user", "196", "--user", "405", "-k", "5", "--json").stdout)
    assert set(r["item"] for b in by_rating for r in b["recommendations"]) & set(RARE)
