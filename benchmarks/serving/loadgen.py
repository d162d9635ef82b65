"""An asyncio HTTP load generator (httpx): N connections send random requests for D seconds.

    python benchmarks/serving/loadgen.py http://127.0.0.1:8000 --paths paths.txt -c 32 -d 30 [--rate 500]

Every connection loops: pick a request (a URL path for a GET, or ``(method, path, json body)``),
send it, record the latency; non-2xx answers and transport errors count as errors. Without
``rate`` each connection sends its next request as soon as the answer is in (as fast as the
server goes); with ``rate`` (requests/s in all) each connection keeps to its share of a fixed
schedule, and a latency is counted from when the request was due, so a stalled server shows
as latency instead of as fewer requests (no coordinated omission). Prints requests/s, p50/p99
latency (ms) and errors as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence

import httpx
import numpy as np

MAX_SECONDS = 900  # a soak's 10 minutes and a margin; nothing here runs unbounded
Request = str | tuple[str, str, object]


class Record:
    """Each answered request: when it finished (s from the start), its latency (s), whether it was a 2xx."""

    def __init__(self) -> None:
        self.done: list[float] = []
        self.latency: list[float] = []
        self.ok: list[bool] = []

    def add(self, done: float, latency: float, ok: bool) -> None:
        self.done.append(done)
        self.latency.append(latency)
        self.ok.append(ok)

    def summary(self, seconds: float) -> dict:
        ms = np.asarray(self.latency) * 1000 if self.latency else np.zeros(1)
        errors = len(self.ok) - int(np.sum(self.ok))
        return {"seconds": seconds, "requests": len(self.latency), "errors": errors, "rps": len(self.latency) / seconds,
                **{f"p{p}_ms": float(np.percentile(ms, p)) for p in (50, 90, 99)}, "p99.9_ms": float(np.percentile(ms, 99.9))}


async def _send(client: httpx.AsyncClient, req: Request) -> bool:
    if isinstance(req, str):
        r = await client.get(req)
    else:
        method, path, body = req
        r = await client.request(method, path, json=body)
    return r.status_code < 300


async def _worker(client: httpx.AsyncClient, requests: Sequence[Request], t0: float, stop: float, record: Record,
                  rng: random.Random, interval: float | None, offset: float) -> None:
    due = t0 + offset
    while True:
        if interval is not None:
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        start = due if interval is not None else time.perf_counter()
        if start >= stop:
            return
        try:
            ok = await _send(client, rng.choice(requests))
        except httpx.HTTPError:
            ok = False
        end = time.perf_counter()
        record.add(end - t0, end - start, ok)
        due = due + interval if interval is not None else end


async def run_load(base: str, paths: Sequence[Request], connections: int = 32, seconds: float = 30.0, warmup: float = 2.0,
                   headers: dict | None = None, rate: float | None = None,
                   every_second: Callable[[float], None] | None = None) -> dict:
    """Load ``base`` with ``paths`` (see the module doc); ``every_second(t)`` is called about once a
    second of the measured phase (to sample the server's memory, say). Returns the summary, with
    the measured requests' ``record``."""
    seconds = min(seconds, MAX_SECONDS)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    interval = connections / rate if rate else None
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0, headers=headers) as client:
        for phase, length in (("warmup", warmup), ("measure", seconds)):
            record = Record()
            t0 = time.perf_counter()
            stop = t0 + length
            tick = asyncio.create_task(_ticker(t0, stop, every_second)) if phase == "measure" and every_second else None
            await asyncio.gather(*(_worker(client, paths, t0, stop, record, random.Random(n), interval,
                                           (interval or 0) * n / connections) for n in range(connections)))
            elapsed = time.perf_counter() - t0
            if tick is not None:
                await tick
    return {"tool": "httpx", "connections": connections, **({"rate": rate} if rate else {}), **record.summary(elapsed),
            "record": record}


async def _ticker(t0: float, stop: float, fn: Callable[[float], None]) -> None:
    n = 0
    while t0 + n < stop:
        await asyncio.sleep(max(0.0, t0 + n - time.perf_counter()))
        fn(time.perf_counter() - t0)
        n += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--paths", required=True, help="file with one URL path per line")
    ap.add_argument("-c", "--connections", type=int, default=32)
    ap.add_argument("-d", "--duration", type=float, default=30.0, help=f"seconds (at most {MAX_SECONDS})")
    ap.add_argument("--rate", type=float, default=None, help="requests/s in all (default: as fast as answered)")
    args = ap.parse_args()
    paths = open(args.paths).read().split()
    result = asyncio.run(run_load(args.base, paths, args.connections, args.duration, rate=args.rate))
    result.pop("record")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
