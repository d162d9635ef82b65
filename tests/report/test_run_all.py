"""benchmarks/run_all.py: running in order, skipping, failing, and collecting results."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def run_all(bench):
    return bench("run_all")


@pytest.fixture
def fake(tmp_path, run_all):
    """A benchmarks folder: ratings (full + quick results), scaling (quick, with an image),
    a serving script without --quick, and ncf missing."""
    root = tmp_path / "benchmarks"
    res = root / "results"
    res.mkdir(parents=True)
    (root / "serving" / "results").mkdir(parents=True)
    (root / "ratings.py").write_text("import sys\n# --quick\nsys.exit(0)\n")
    (root / "implicit_feedback.py").write_text("import sys\n# --quick\nsys.exit(3)\n")
    (root / "scaling.py").write_text("# --quick\n")
    (root / "sequential.py").write_text("# --quick\n")
    (root / "serving" / "bench_ann.py").write_text("print('no quick mode here')\n")
    (res / "ratings.json").write_text(json.dumps({"seed": 0, "rows": []}))
    (res / "ratings.md").write_text("# Explicit ratings\n\n| model | rmse |\n|---|---|\n| mf | 0.91 |\n\n## Targets\n")
    (res / "ratings-quick.md").write_text("# Ratings (quick)\n")
    (res / "scaling-quick.json").write_text(json.dumps({"seed": 7}))
    (res / "scaling-quick.md").write_text("# Scaling\n\n![scaling](scaling-quick.png)\n[web](https://example.org)\n")
    (res / "scaling-quick.png").write_bytes(b"\x89PNG")
    return root


def test_discover_keeps_the_order_and_missing_scripts(run_all, fake):
    names = [b.name for b in run_all.discover(fake)]
    assert names == ["ratings", "implicit", "ncf", "sequential", "features", "ann", "scaling", "scale"]
    assert run_all.discover(fake)[5].results == fake / "serving" / "results"


def test_run_one_skips_fails_and_succeeds(run_all, fake):
    by = {b.name: b for b in run_all.discover(fake)}
    assert run_all.run_one(by["ncf"], quick=True, timeout=60).status == "skipped"
    ann = run_all.run_one(by["ann"], quick=True, timeout=60)
    assert ann.status == "skipped" and "no --quick" in ann.note
    assert run_all.run_one(by["ratings"], quick=True, timeout=60).status == "ok"
    failed = run_all.run_one(by["implicit"], quick=True, timeout=60)
    assert failed.status == "failed" and "exit status 3" in failed.note


def test_collect_quick(run_all, fake, tmp_path):
    O = run_all.Outcome
    by = {b.name: b for b in run_all.discover(fake)}
    outcomes = [O(by["ratings"], "ok", 12.0), O(by["implicit"], "failed", 3.0, "exit status 3"),
                O(by["ncf"], "skipped", note="benchmarks/ncf.py does not exist (yet)"), O(by["scaling"], "ok", 40.0)]
    info = {"python": "3.11", "torch": "2.13", "numpy": "2.4", "cpus": 2, "cpu": "Test CPU", "date": "today"}
    md = run_all.render(outcomes, quick=True, info=info, out_dir=fake / "results")
    assert md.startswith("# deeprecs benchmarks (quick)")
    assert "Test CPU, 2 CPUs" in md and "torch 2.13" in md
    assert "| [ratings](#ratings) | ok | today | 12 | – |" in md  # quick results have no JSON: no seed
    assert "| [scaling](#scaling) | ok | today | 40 | 7 |" in md
    assert "| [implicit](#implicit) | failed | today | 3 |" in md and "exit status 3" in md
    assert "does not exist (yet)" in md
    assert "### Ratings (quick)" in md and "# Explicit ratings" not in md  # the quick file, demoted
    assert "![scaling](scaling-quick.png)" in md and "(https://example.org)" in md


def test_collect_full_relinks_images_from_the_root(run_all, fake):
    O = run_all.Outcome
    by = {b.name: b for b in run_all.discover(fake)}
    (fake / "results" / "scaling.md").write_text("# Scaling\n![plot](scaling.png)\n")
    (fake / "results" / "scaling.png").write_bytes(b"\x89PNG")
    md = run_all.render([O(by["ratings"], "ok", 1.0), O(by["scaling"], "ok", 1.0)], quick=False, info={}, out_dir=fake.parent)
    assert "\n### Explicit ratings" in md and "\n#### Targets" in md and "| mf | 0.91 |" in md
    assert "| 0 |" in md  # the ratings seed
    assert "![plot](benchmarks/results/scaling.png)" in md


def test_collected_rows_show_when_their_results_were_run(run_all, fake):
    O = run_all.Outcome
    by = {b.name: b for b in run_all.discover(fake)}
    (fake / "results" / "scaling.json").write_text(json.dumps({"seed": 7, "run": {"date": "2026-11-23 21:42:57"}}))
    (fake / "results" / "scaling.md").write_text("# Scaling\n")
    md = run_all.render([O(by["scaling"], "ok", 0.0, "collected, not run"), O(by["ratings"], "ok", 0.0, "collected, not run")],
                        quick=False, info={"date": "2026-12-02 15:00:00"}, out_dir=fake.parent,
                        notes=["Run: scaling from the full make bench"])
    assert "| [scaling](#scaling) | ok | 2026-11-23 | - | 7 | collected, not run |" in md
    assert "| [ratings](#ratings) | ok | not recorded | - |" in md  # no date in its JSON
    assert "- Run: scaling from the full make bench" in md and "wall-clock" not in md


def test_main_exits_non_zero_when_a_script_fails(run_all, fake, monkeypatch, tmp_path):
    original = run_all.discover
    monkeypatch.setattr(run_all, "discover", lambda: original(fake))
    out = tmp_path / "B.md"
    assert run_all.main(["--quick", "--out", str(out)]) == 1
    text = out.read_text()
    assert "| [implicit](#implicit) | failed |" in text and "| [ratings](#ratings) | ok |" in text
    assert run_all.main(["--quick", "--only", "ratings,scaling", "--out", str(out)]) == 0
    assert "collected, not run" in out.read_text()


def test_schedule_puts_ncf_ml1m_in_a_lane_of_its_own(run_all, fake):
    benches = run_all.discover(fake)
    lanes, alone = run_all.schedule(benches, 2)
    assert [(j.bench.name, j.args) for j in lanes[0]] == [("ncf", ("--datasets", "ncf-ml-1m", "--merge")), ("sequential", ())]
    assert [(j.bench.name, j.args) for j in lanes[1]] == [("ratings", ()), ("implicit", ()), ("ncf", ("--datasets", "ml-100k", "--merge")),
                                                              ("features", ()), ("scaling", ()), ("scale", ())]
    assert [j.bench.name for j in alone] == ["ann"]  # serving loads both cores: measured alone
    lanes, alone = run_all.schedule(benches, 1)
    assert lanes == [] and [j.bench.name for j in alone] == ["ratings", "implicit", "ncf", "sequential", "features", "ann", "scaling", "scale"]


def test_lanes_run_side_by_side_and_chunks_merge(run_all, tmp_path):
    root = tmp_path / "b"
    root.mkdir()
    # each script announces itself, then waits for the other: only side-by-side lanes both finish
    wait = ("import sys, time, pathlib\nd = pathlib.Path(__file__).parent\n(d / '{me}.flag').touch()\n"
            "t0 = time.time()\nwhile not (d / '{other}.flag').exists():\n    time.sleep(0.05)\n"
            "    if time.time() - t0 > 30: sys.exit(2)\nsys.exit({code})\n")
    (root / "a.py").write_text(wait.format(me="a", other="b", code=0))
    (root / "b.py").write_text(wait.format(me="b", other="a", code=3))
    a, b = run_all.Bench("a", root / "a.py"), run_all.Bench("b", root / "b.py")
    outs = run_all.run_lanes([[run_all.Job(a)], [run_all.Job(b)]], quick=False, timeout=60, threads=1)
    assert [(o.status, o.note) for o in outs] == [("ok", ""), ("failed", "exit status 3")]
    merged = run_all.merge_outcomes([run_all.Outcome(a, "ok", 2.0), run_all.Outcome(b, "ok", 1.0), run_all.Outcome(a, "failed", 3.0, "exit status 1")])
    assert [(o.bench.name, o.status, o.seconds) for o in merged] == [("a", "failed", 5.0), ("b", "ok", 1.0)]
