"""Shared pieces of the benchmark scripts: isolated rows, machine info, JSON + Markdown output.

Every row (one model or peer on one protocol) runs in a fresh process, so its peak memory
(``ru_maxrss``) is its own and one row cannot warm another's caches.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

RESULTS = Path(__file__).resolve().parent / "results"


def _child(fn: Callable[..., dict], args: tuple, threads: int, queue: mp.Queue) -> None:
    try:
        import torch

        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        row = fn(*args)
        row["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        row["threads"] = threads
        queue.put(row)
    except BaseException as exc:  # report, never hang the parent
        queue.put({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})


def run_isolated(fn: Callable[..., dict], *args: Any, threads: int = 2, timeout: float = 1800) -> dict:
    """Run ``fn(*args) -> dict`` in a fresh process; adds ``peak_mb`` and ``threads``."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, threads, queue))
    proc.start()
    try:
        row = queue.get(timeout=timeout)
    except Exception:
        row = {"error": f"timed out after {timeout:.0f} s"}
    proc.join(timeout=10)
    if proc.is_alive():
        proc.kill()
    return row


def installed(module: str) -> bool:
    """Whether a peer library imports (its rows are skipped otherwise)."""
    try:
        __import__(module)
        return True
    except Exception:
        return False


def machine() -> dict:
    import numpy
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "numpy": numpy.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    for name in ("surprise", "lightfm", "implicit", "cornac"):
        try:
            module = __import__(name)
            info[name] = getattr(module, "__version__", "installed")
        except Exception:
            info[name] = None
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    except OSError:
        pass
    return info


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(fmt(r.get(c)) for c in columns) + " |\n" for r in rows)


def write_results(name: str, payload: dict, markdown: str, out: Path = RESULTS) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    jpath, mpath = out / f"{name}.json", out / f"{name}.md"
    jpath.write_text(json.dumps(payload, indent=2, default=str))
    mpath.write_text(markdown)
    return jpath, mpath


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- our rows
def run_models(ours: Callable[..., dict], models: list[str], blend_of: list[str], threads: int, label: str,
               args: Callable[[str, str, tuple], tuple], extra: dict | None = None) -> list[dict]:
    """Our rows, each in its own process: ``ours(*args(model, runs_dir, pretrain))``.

    Every run is saved in a temporary folder so that the ``blend`` row can blend this
    benchmark's own runs of ``blend_of`` (``blend --pretrain``) instead of training the same
    members a second time; its ``fit_seconds`` then include theirs (``fit_seconds_own``: the
    blend weights alone). Without all of them among the rows before it, the blend trains its own.
    """
    import tempfile

    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as runs:
        for model in models:
            log(f"[{label}] {model} ...")
            done = models[: models.index(model)]
            pretrain = tuple(blend_of) if model == "blend" and all(m in done for m in blend_of) else ()
            row = {"library": "deeprecs", "model": model, **(extra or {}), **run_isolated(ours, *args(model, runs, pretrain), threads=threads)}
            if pretrain and "error" not in row:
                row["fit_seconds_own"] = row["fit_seconds"]
                row["fit_seconds"] += sum(r.get("fit_seconds") or 0 for r in rows if r["model"] in pretrain)
                row["blend_of"] = list(pretrain)
            log(f"   {', '.join(f'{k} {row[k]:.4f}' for k in ('rmse', 'auc') if row.get(k) is not None)}  fit {row.get('fit_seconds')}  {row.get('error', '')}")
            rows.append(row)
    return rows


# ----------------------------------------------------------------------------- peers, tuned
def tune(fit: Callable[[dict], Any], grid: list[dict], validate: Callable[[Any], float], higher_is_better: bool = True) -> dict:
    """A peer's hyper-parameters chosen on OUR validation part (never on test), like ours.

    ``fit(params) -> fitted`` for each point of ``grid``; ``validate(fitted) -> float``.
    Returns ``{"params", "fitted", "valid", "fit_seconds" (of the chosen point), "tuning_seconds"
    (the whole search), "tried"}``; ties keep the earlier point (list the peer's defaults first).
    """
    best: dict = {}
    t_all = time.perf_counter()
    for params in grid:
        t0 = time.perf_counter()
        fitted = fit(params)
        fit_s = time.perf_counter() - t0
        value = float(validate(fitted))
        better = not best or (value > best["valid"] if higher_is_better else value < best["valid"])
        if better:
            best = {"params": params, "fitted": fitted, "valid": value, "fit_seconds": fit_s}
        else:
            del fitted
    best["tuning_seconds"] = time.perf_counter() - t_all
    best["tried"] = len(grid)
    return best


def grid(**axes: list) -> list[dict]:
    """Every combination of the axes, in order (the first value of each axis first)."""
    import itertools

    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


def ranking_parts(data: str, split: str, positive: float | None, seed: int = 0):
    """``(train, valid, valid_negatives, eval_train, test, test_negatives)``: exactly the parts our
    ranking models get from the pipeline (validation carved or held out as for them)."""
    from deeprecs.pipeline import evaluation_train

    sp = ranking_split(data, split, positive, seed)
    return sp.train, sp.valid, sp.valid_negatives, evaluation_train(sp), sp.test, sp.test_negatives


def ranking_split(data: str, split: str, positive: float | None, seed: int = 0):
    """The :class:`~deeprecs.data.dataset.Split` our ranking models get from the pipeline
    (with its known dislikes, ``split.dislikes``, where ``positive`` is given)."""
    from deeprecs.pipeline import TrainSpec, load_data, prepare_split

    spec = TrainSpec(model="popularity", data=data, split=split, seed=seed, positive=positive, task="ranking")
    return prepare_split(spec, load_data(spec), "ranking")
