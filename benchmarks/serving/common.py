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
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    results = {"benchmark": name, "when": when, "machine": {"platform": platform.platform(), "date": when},
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


def ensure_run(run: str | Path, epochs: int = 3) -> Path:
    """The ML-1M model the serving benchmarks load; trained (MF, 3 epochs, 1 for the quick runs:
    speed, not quality, is measured here) from the NCF ML-1M files when missing. Data:
    ``$DEEPRECS_NCF_ML1M`` or ``../shared/data/ncf-ml-1m/ml-1m`` beside the repository."""
    import os

    run = Path(run)
    if (run / "model.pt").is_file():
        return run
    root = Path(__file__).resolve().parents[2]
    prefix = os.environ.get("DEEPRECS_NCF_ML1M", str(root.parent / "shared/data/ncf-ml-1m/ml-1m"))
    from deeprecs.pipeline import TrainSpec, train

    print(f"training {run} (mf on ncf:{prefix}, {epochs} epoch(s)) for the serving benchmarks ...", flush=True)
    train(TrainSpec(model="mf", data=f"ncf:{prefix}", split="fixed", train_options={"epochs": epochs}), out=run, progress=False)
    return run
