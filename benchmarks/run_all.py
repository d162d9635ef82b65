"""Run every benchmark script in turn and collect their results into one Markdown file.

    python benchmarks/run_all.py [--quick] [--lanes 2] [--only ratings,scaling] [--collect-only]

Order: ratings.py, implicit_feedback.py, ncf.py, sequential.py, features.py, serving/bench_*.py, scaling.py, scale.py; each in its own
subprocess, with ``--quick`` when quick (and ``--threads 1``, where a script takes it).

A full run uses two lanes by default (``--lanes 2``, one per core of the 2-core target
machine): the NCF benchmark's ML-1M half, then the sequential benchmark, run beside ratings, implicit feedback, the NCF
benchmark's ML-100K half and scaling, every one of them with ``--threads 1``; the serving
benchmarks (an HTTP server and its load generator use both cores) then run alone. ``--lanes 1`` runs everything
one after the other with each script's own thread count. A
script that is missing is skipped with a note (and so is, in quick mode, a serving script
without a ``--quick`` option); a script that fails makes this one exit non-zero once the
others have run. Each script writes ``results/NAME.json`` and ``NAME.md`` (``NAME-quick.*``
in quick mode); those are gathered, with the machine, versions and seeds, into
``BENCHMARKS.md`` at the repository root, or ``benchmarks/results/BENCHMARKS-quick.md`` in
quick mode (the full file is left alone).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import RESULTS, log, machine  # noqa: E402

ROOT = HERE.parent


@dataclass
class Bench:
    """One benchmark script and the stem of the result files it writes."""

    name: str
    script: Path
    results: Path = RESULTS

    def stem(self, quick: bool) -> str:
        return f"{self.name}-quick" if quick else self.name


@dataclass
class Job:
    """A benchmark script run with some extra arguments (a chunk of it, e.g. one dataset)."""

    bench: Bench
    args: tuple[str, ...] = ()


@dataclass
class Outcome:
    bench: Bench
    status: str  # "ok", "failed", "skipped"
    seconds: float = 0.0
    note: str = ""


def shown(path: Path) -> str:
    """``path`` relative to the repository root where it lies inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def discover(root: Path = HERE) -> list[Bench]:
    """The benchmarks in running order; missing scripts are kept (and later skipped with a note)."""
    scripts = {"ratings": "ratings.py", "implicit": "implicit_feedback.py", "ncf": "ncf.py", "sequential": "sequential.py",
               "features": "features.py"}
    benches = [Bench(n, root / f, root / "results") for n, f in scripts.items()]
    for script in sorted((root / "serving").glob("bench_*.py")):
        benches.append(Bench(script.stem.removeprefix("bench_"), script, root / "serving" / "results"))
    benches.append(Bench("scaling", root / "scaling.py", root / "results"))
    benches.append(Bench("scale", root / "scale.py", root / "results"))
    return benches


def run_one(bench: Bench, quick: bool, timeout: float, threads: int | None = None, args: tuple[str, ...] = ()) -> Outcome:
    """Run one script; ``threads`` is passed as ``--threads`` to scripts that have that option."""
    if not bench.script.is_file():
        return Outcome(bench, "skipped", note=f"{shown(bench.script)} does not exist (yet)")
    source = bench.script.read_text(encoding="utf-8", errors="replace")
    if quick and "--quick" not in source:
        return Outcome(bench, "skipped", note=f"{bench.script.name} has no --quick mode; run the full benchmarks for it")
    cmd = [sys.executable, str(bench.script), *(["--quick"] if quick else []), *args]
    if threads and "--threads" in source:
        cmd += ["--threads", str(threads)]
    log(f"== {bench.name}: {' '.join(cmd[1:])}")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Outcome(bench, "failed", time.perf_counter() - t0, f"timed out after {timeout:.0f} s")
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        return Outcome(bench, "failed", seconds, f"exit status {proc.returncode}")
    log(f"   {bench.name} done in {seconds:.0f} s")
    return Outcome(bench, "ok", seconds)


def schedule(benches: list[Bench], lanes: int) -> tuple[list[list[Job]], list[Job]]:
    """``(parallel lanes, then alone)``: with 2+ lanes the NCF ML-1M chunk and the sequential
    benchmark get a lane of their own and the other model benchmarks (scaling's 1-thread throughput included) share the second; the
    serving benchmarks, which load both cores (HTTP server and load generator), come after, alone."""
    by = {b.name: b for b in benches}
    laned = [n for n in ("ratings", "implicit", "ncf", "sequential", "features", "scaling", "scale") if n in by]
    if lanes < 2 or "ncf" not in by:
        return [], [Job(b) for b in benches]
    ncf = by["ncf"]
    first = [Job(ncf, ("--datasets", "ncf-ml-1m", "--merge"))] + [Job(by[n]) for n in laned if n == "sequential"]
    second = [Job(by[n]) for n in laned if n not in ("ncf", "sequential")]
    second.insert(len([n for n in laned if n in ("ratings", "implicit")]), Job(ncf, ("--datasets", "ml-100k", "--merge")))
    return [first, second], [Job(b) for b in benches if b.name not in laned]


def run_lanes(lanes: list[list[Job]], quick: bool, timeout: float, threads: int) -> list[Outcome]:
    """Each lane's jobs one after another, the lanes side by side; one outcome per job."""
    from concurrent.futures import ThreadPoolExecutor

    def lane(jobs: list[Job]) -> list[Outcome]:
        return [run_one(j.bench, quick, timeout, threads, j.args) for j in jobs]

    with ThreadPoolExecutor(max(len(lanes), 1)) as pool:
        return [o for outs in pool.map(lane, lanes) for o in outs]


def merge_outcomes(outcomes: list[Outcome]) -> list[Outcome]:
    """One outcome per benchmark (chunks of one script combined: failed if any chunk failed)."""
    merged: dict[str, Outcome] = {}
    for o in outcomes:
        if o.bench.name not in merged:
            merged[o.bench.name] = Outcome(o.bench, o.status, o.seconds, o.note)
            continue
        m = merged[o.bench.name]
        m.status = "failed" if "failed" in (m.status, o.status) else ("ok" if "ok" in (m.status, o.status) else m.status)
        m.seconds += o.seconds
        m.note = "; ".join(x for x in (m.note, o.note) if x)
    return list(merged.values())


def read_results(bench: Bench, quick: bool) -> tuple[dict | None, str | None]:
    """``(json payload, markdown)`` of a benchmark's latest results, ``None`` where absent."""
    jpath, mpath = (bench.results / f"{bench.stem(quick)}{ext}" for ext in (".json", ".md"))
    payload = None
    if jpath.is_file():
        try:
            payload = json.loads(jpath.read_text())
        except json.JSONDecodeError:
            payload = None
    return payload, (mpath.read_text() if mpath.is_file() else None)


def seeds_of(payload: dict | None) -> str:
    if not payload:
        return "–"
    for key in ("seed", "seeds"):
        if key in payload:
            return str(payload[key])
    return "not recorded"


def run_date(payload: dict | None) -> str:
    """When a result file was written (its ``machine``/``run`` info), for results collected but not run now."""
    for key in ("run", "machine"):
        info = (payload or {}).get(key)
        if isinstance(info, dict) and info.get("date"):
            return str(info["date"])[:10]
    return "not recorded"


def demote(markdown: str, levels: int = 1) -> str:
    """Headings one level down, so each section sits under its own ``##`` heading."""
    return re.sub(r"^(#{1,5}) ", lambda m: "#" * (len(m.group(1)) + levels) + " ", markdown, flags=re.M)


def relink(markdown: str, results: Path, out_dir: Path) -> str:
    """Point relative links and images (``![x](scaling.png)``) at the results folder, seen from ``out_dir``."""
    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"^[a-z]+:|^#|^/", target) or not (results / target).exists():
            return m.group(0)
        return f"{m.group(1)}({os.path.relpath(results / target, out_dir)})"
    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", fix, markdown)


def render(outcomes: list[Outcome], quick: bool, info: dict, out_dir: Path, lanes_note: str = "",
           notes: list[str] | None = None) -> str:
    """The whole collected Markdown file."""
    versions = ", ".join(f"{k} {info[k]}" for k in ("python", "torch", "numpy", "surprise", "lightfm", "implicit", "cornac") if info.get(k))
    lines = [f"# deeprecs benchmarks{' (quick)' if quick else ''}", "",
             f"Collected by `benchmarks/run_all.py{' --quick' if quick else ''}` on {info.get('date', '?')}.", "",
             f"- Machine: {info.get('cpu') or '?'}, {info.get('cpus', '?')} CPUs, {info.get('platform', '?')}",
             f"- Versions: {versions}",
             "- Peers not installed: " + (", ".join(k for k in ("surprise", "lightfm", "implicit", "cornac") if not info.get(k)) or "none"),
             *([f"- Run: {lanes_note}"] if lanes_note else []),
             *(f"- {n}" for n in notes or []),
             ""]
    if quick:
        lines += ["Quick mode (CI smoke test): fewer models, sizes and epochs; the numbers show the code runs, "
                  "not how good or fast it is. See BENCHMARKS.md for the full runs.", ""]
    lines += ["| benchmark | status | run | seconds | seeds | note |", "|---|---|---|---|---|---|"]
    sections = []
    for o in outcomes:
        payload, md = read_results(o.bench, quick) if o.status != "skipped" else (None, None)
        note = o.note or ("" if md else "no results file written")
        collected = o.note == "collected, not run"
        when = run_date(payload) if collected else info.get("date", "?")[:10]
        seconds = "-" if collected else f"{o.seconds:.0f}"
        lines.append(f"| [{o.bench.name}](#{o.bench.name}) | {o.status} | {when} | {seconds} | {seeds_of(payload)} | {note} |")
        body = relink(demote(md.strip(), 2), o.bench.results, out_dir) if md else f"_{note or 'no results'}_"
        sections += ["", f'<a id="{o.bench.name}"></a>', "", f"## {o.bench.name}", "",
                     f"Status: {o.status}{f' ({note})' if note else ''}; "
                     f"results: `{shown(o.bench.results / o.bench.stem(quick))}.{{json,md}}`.", "", body]
    return "\n".join(lines + sections) + "\n"


def write_atomic(text: str, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every script with --quick; writes results/BENCHMARKS-quick.md")
    ap.add_argument("--only", default=None, help="comma list of benchmark names to run (others are collected as they are)")
    ap.add_argument("--collect-only", action="store_true", help="run nothing; collect the results already there")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads, passed to the scripts that take --threads (default: 1 with --quick, their own otherwise)")
    ap.add_argument("--lanes", type=int, default=None,
                    help="benchmarks side by side, 1 thread each (default: 2 for a full run, 1 with --quick)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per script (default: 600 quick, 6 h full)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--note", action="append", default=[],
                    help="a line for the header (how the results collected were run); repeatable")
    args = ap.parse_args(argv)
    timeout = args.timeout or (600 if args.quick else 6 * 3600)
    threads = args.threads or (1 if args.quick else None)  # a smoke test: small models gain little from a 2nd thread
    out = args.out or (RESULTS / "BENCHMARKS-quick.md" if args.quick else ROOT / "BENCHMARKS.md")
    wanted = set(args.only.split(",")) if args.only else None
    t0 = time.perf_counter()
    lanes = args.lanes if args.lanes is not None else (1 if args.quick else 2)
    outcomes = []
    benches = discover()
    for bench in benches:
        if args.collect_only or (wanted is not None and bench.name not in wanted):
            outcomes.append(Outcome(bench, "ok" if read_results(bench, args.quick)[1] else "skipped", note="collected, not run"))
    run = [b for b in benches if not (args.collect_only or (wanted is not None and b.name not in wanted))]
    parallel, alone = schedule(run, lanes)
    lanes_note = ""
    if parallel:
        lanes_note = f"{len(parallel)} lanes side by side, --threads 1 each: " + " | ".join(" -> ".join(f"{j.bench.name}{' ' + ' '.join(j.args) if j.args else ''}" for j in lane) for lane in parallel)
        lanes_note += "; then, alone: " + ", ".join(j.bench.name for j in alone)
        log(lanes_note)
        outcomes += run_lanes(parallel, args.quick, timeout, 1)
    outcomes += [run_one(j.bench, args.quick, timeout, threads, j.args) for j in alone]
    order = {b.name: i for i, b in enumerate(benches)}
    outcomes = sorted(merge_outcomes(outcomes), key=lambda o: order[o.bench.name])
    out.parent.mkdir(parents=True, exist_ok=True)
    wall = f"whole run {time.perf_counter() - t0:.0f} s wall-clock" if run else ""
    write_atomic(render(outcomes, args.quick, machine(), out.parent, "; ".join(filter(None, (lanes_note, wall))), args.note), out)
    failed = [o.bench.name for o in outcomes if o.status == "failed"]
    log(f"wrote {out} in {time.perf_counter() - t0:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
