"""Device throughput: the training loop's examples per second at two batch sizes, and top-K for every user.

    python benchmarks/device.py --device cuda            # the issue's sizes (an H200: seconds)
    python benchmarks/device.py --device cpu --small     # the same code at a size a laptop runs

Training: GMF (the NCF log loss, 4 sampled negatives per positive, our loop, sampler and task) on
synthetic pairs with MovieLens-like skew, one epoch per batch size after a warm-up epoch; examples/s
counts positives (each with its 4 negatives). Retrieval: ``deeprecs.retrieval.topk`` of a 128-d factor
model for every user (138,493 users x 27,278 items, ML-20M's sizes), seen items not excluded, with the
device synchronised before the clock stops. Prints one JSON object and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from deeprecs.data.interactions import IdMap, Interactions  # noqa: E402
from deeprecs.devices import resolve_device, synchronize  # noqa: E402
from deeprecs.models import build_model  # noqa: E402
from deeprecs.retrieval import topk  # noqa: E402
from deeprecs.tasks import RankingTask  # noqa: E402
from deeprecs.training import TrainConfig, fit  # noqa: E402


def synthetic(n_users: int, n_items: int, n: int, seed: int = 0) -> Interactions:
    """``n`` distinct-ish pairs: users uniform, items Zipf-like (popular items most drawn)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n)
    items = np.minimum((rng.pareto(1.2, n) * n_items / 50).astype(np.int64), n_items - 1)
    return Interactions(users, items, IdMap(np.arange(n_users)), IdMap(np.arange(n_items)))


def train_rate(data: Interactions, device: torch.device, batch_size: int, factors: int) -> dict:
    model = build_model("gmf", data.n_users, data.n_items, factors=factors).to(device)
    cfg = TrainConfig(epochs=2, batch_size=batch_size, lr=1e-3, loss="bce", n_negatives=4, optimizer="sparse-adam", progress=False)
    history = fit(model, RankingTask(data, cfg, device), cfg)  # epoch 1 warms up (allocations, kernels)
    last = history.epochs[-1]
    return {"batch_size": batch_size, "examples_per_s": round(last["examples_per_s"]), "epoch_seconds": round(last["seconds"], 3)}


def topk_seconds(n_users: int, n_items: int, dim: int, k: int, device: torch.device, batch_size: int) -> dict:
    model = build_model("mf", n_users, n_items, factors=dim, init_std=0.1).to(device).eval()
    users = np.arange(n_users)
    topk(model, users[: min(batch_size, n_users)], k, batch_size=batch_size)  # warm-up
    synchronize(device)
    t0 = time.perf_counter()
    items, _ = topk(model, users, k, batch_size=batch_size)
    synchronize(device)
    return {"users": n_users, "items": n_items, "dim": dim, "k": k, "seconds": round(time.perf_counter() - t0, 3),
            "rows": int(items.shape[0])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--small", action="store_true", help="CPU-sized: 1/20 of the rows and users")
    p.add_argument("--out", default=None, help="JSON file to write")
    args = p.parse_args()
    device = resolve_device(args.device)
    scale = 20 if args.small else 1
    n_users, n_items = 138_493 // scale, 27_278 // scale
    data = synthetic(n_users, n_items, 4_000_000 // scale)
    out = {"device": str(device), "torch": torch.__version__,
           "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
           "train": [train_rate(data, device, b, factors=64) for b in (8192, 65536)],
           "topk": topk_seconds(n_users, n_items, 128, 100, device, batch_size=8192 if device.type != "cpu" else 1024)}
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
