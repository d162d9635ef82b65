"""HTTP load test of ``deeprecs serve``: GET /users/{id}/recommendations?k=10 on 127.0.0.1.

    python benchmarks/serving/bench_http.py --run runs/ml1m [--duration 30 --workers 2 --tool auto]

Starts the server (store path: exports RUN to a SQLite file first; live path: no store),
loads it with 32 connections for --duration seconds (wrk when installed, else the in-repo
httpx generator, loadgen.py) on random users, and reports errors, requests/s, p50/p99.
Writes results/http.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from common import ensure_run, write_results
from loadgen import MAX_SECONDS, run_load

ROOT = Path(__file__).resolve().parents[2]
WRK_LUA = """
local ids = {%s}
math.randomseed(%d)
request = function()
  return wrk.format("GET", "/users/" .. ids[math.random(#ids)] .. "/recommendations?k=10")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "errors": %%d, "p50_ms": %%f, "p99_ms": %%f}\\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(run: str, db: str | None, workers: int) -> tuple[subprocess.Popen, str]:
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
                return proc, base
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def load_wrk(base: str, users: list[str], connections: int, seconds: float, threads: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % (",".join(json.dumps(u) for u in users), 0))
    subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", "2s", "-s", f.name, base], capture_output=True)
    out = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(seconds)}s", "-s", f.name, base],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    return {"tool": "wrk", "connections": connections, **result, "rps": result["requests"] / result["seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default=str(ROOT / "runs/ml1m"))
    ap.add_argument("--db", default=None, help="store URL (default: a fresh SQLite file with an export of RUN)")
    ap.add_argument("--duration", type=float, default=30.0, help=f"seconds per path (at most {MAX_SECONDS})")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--paths", default="store,live")
    ap.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    args = ap.parse_args()
    duration = min(args.duration, MAX_SECONDS)
    tool = args.tool if args.tool != "auto" else ("wrk" if shutil.which("wrk") else "httpx")

    from deeprecs.runs import load_run
    from deeprecs.store import export_run

    run = load_run(ensure_run(args.run))
    users = [str(u) for u in run.user_map.raw.tolist()]
    db = args.db
    if db is None and "store" in args.paths:
        db = f"sqlite:///{tempfile.mkdtemp()}/recs.db"
        export_run(run, db, k=100, progress=False)
    results = {}
    for path in args.paths.split(","):
        proc, base = start_server(args.run, db if path == "store" else None, args.workers)
        try:
            source = httpx.get(f"{base}/users/{users[0]}/recommendations?k=10").json()["source"]
            if tool == "wrk":
                res = load_wrk(base, users, args.connections, duration, threads=2)
            else:
                rng = random.Random(0)
                paths = [f"/users/{rng.choice(users)}/recommendations?k=10" for _ in range(20000)]
                res = asyncio.run(run_load(base, paths, args.connections, duration))
        finally:
            stop_server(proc)
        results[path] = {**res, "source": source, "workers": args.workers}
        print(path, results[path], flush=True)

    md = [f"# HTTP load test: GET /users/{{id}}/recommendations?k=10, {Path(args.run).name}, "
          f"{args.connections} connections, {duration:.0f} s, {args.workers} uvicorn worker(s), {tool}", "",
          "| path | errors | requests/s | p50 ms | p99 ms |", "|---|---:|---:|---:|---:|"]
    md += [f"| {p} ({r['source']}) | {r['errors']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |" for p, r in results.items()]
    md += ["", "Targets: 0 errors, >= 1,000 requests/s, p99 <= 25 ms. The load generator shares the machine's cores.", ""]
    write_results("http", {"run": args.run, "duration": duration, "tool": tool, "results": results}, "\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
