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
