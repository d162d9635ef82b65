"""Helpers shared by the serving benchmarks: result files and medians."""

from __future__ import annotations

import json
import platform
import statistics
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results"


def write_results(name: str, results: dict, markdown: str) -> None:
    """``results/NAME.json`` (with machine info) and ``results/NAME.md``."""
    OUT.mkdir(exist_ok=True)
    results = {"benchmark": name, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.platform(),
               "python": platform.python_version(), **results}
    (OUT / f"{name}.json").write_text(json.dumps(results, indent=2))
    (OUT / f"{name}.md").write_text(markdown)
    print(markdown)
    print(f"wrote {OUT / name}.json and .md")


def median_time(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times
