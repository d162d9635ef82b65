"""An asyncio HTTP load generator (httpx): N connections hammer random URLs for D seconds.

    python benchmarks/serving/loadgen.py http://127.0.0.1:8000 --paths paths.txt -c 32 -d 30

Every connection loops: pick a URL, GET it, record the latency; non-2xx answers and transport
errors count as errors. Prints requests/s, p50/p99 latency (ms) and errors as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import httpx
import numpy as np

MAX_SECONDS = 300


async def _worker(client: httpx.AsyncClient, paths: list[str], stop: float, lat: list[float], errors: list[int], rng: random.Random) -> None:
    while True:
        start = time.perf_counter()
        if start >= stop:
            return
        try:
            r = await client.get(rng.choice(paths))
            if r.status_code >= 300:
                errors[0] += 1
        except httpx.HTTPError:
            errors[0] += 1
        lat.append(time.perf_counter() - start)


async def run_load(base: str, paths: list[str], connections: int = 32, seconds: float = 30.0, warmup: float = 2.0,
                   headers: dict | None = None) -> dict:
    seconds = min(seconds, MAX_SECONDS)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0, headers=headers) as client:
        for phase, length in (("warmup", warmup), ("measure", seconds)):
            lat: list[float] = []
            errors = [0]
            start = time.perf_counter()
            stop = start + length
            await asyncio.gather(*(_worker(client, paths, stop, lat, errors, random.Random(n)) for n in range(connections)))
            elapsed = time.perf_counter() - start
    ms = np.array(lat) * 1000
    return {"tool": "httpx", "connections": connections, "seconds": elapsed, "requests": len(lat), "errors": errors[0],
            "rps": len(lat) / elapsed, "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--paths", required=True, help="file with one URL path per line")
    ap.add_argument("-c", "--connections", type=int, default=32)
    ap.add_argument("-d", "--duration", type=float, default=30.0, help=f"seconds (at most {MAX_SECONDS})")
    args = ap.parse_args()
    paths = open(args.paths).read().split()
    print(json.dumps(asyncio.run(run_load(args.base, paths, args.connections, args.duration))))


if __name__ == "__main__":
    main()
