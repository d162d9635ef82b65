"""A ``deeprecs serve`` process for the serving benchmarks: start it, stop it, weigh it.

The server runs in a session of its own, so that its uvicorn workers form one process group:
:func:`rss_mb` sums the resident memory of every process in it (supervisor and workers).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: str, db: str | None, workers: int) -> tuple[subprocess.Popen, str]:
    """``deeprecs serve RUN [--db DB] --workers N`` on a free port; returns (process, base URL)
    once ``/health`` answers."""
    port = free_port()
    cmd = [str(ROOT / ".venv/bin/deeprecs"), "serve", run, "--port", str(port), "--workers", str(workers)]
    if db:
        cmd += ["--db", db]
    proc = subprocess.Popen(cmd, env={**os.environ, "DEEPRECS_API_KEY": ""}, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health").status_code == 200:
                _wait_for_workers(proc, workers)
                return proc, base
        except httpx.TransportError:
            time.sleep(0.3)
    stop_server(proc)
    raise RuntimeError("server did not start")


def _wait_for_workers(proc: subprocess.Popen, workers: int, timeout: float = 60) -> None:
    """With several workers the first answers while the others still load the run: wait for all."""
    deadline = time.monotonic() + timeout
    while workers > 1 and len(group_pids(proc.pid)) < workers + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0 if workers > 1 else 0.0)  # each worker loads the run after it forks


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def group_pids(pgid: int) -> list[int]:
    """The processes of one process group (Linux ``/proc``)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
                pids.append(int(entry))
    return pids


def rss_mb(pgid: int) -> float:
    """Resident memory of a process group, MB (sum of ``VmRSS``)."""
    total = 0
    for pid in group_pids(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024
