"""Run by tests/test_distributed.py under ``torch.distributed.run`` with 2 processes: each rank
builds MF from its own seed (so that they start apart), trains it for a few steps with the one
training loop (dense Adam, then sparse Adam; each also by local SGD), and rank 0 writes what it gathered: whether every
parameter is equal on every rank, and how many rows each rank trained on."""

import json
import sys

import numpy as np
import torch
import torch.distributed as dist

from deeprecs import distributed
from deeprecs.data.interactions import Interactions
from deeprecs.models import build_model
from deeprecs.tasks import RatingTask
from deeprecs.training import TrainConfig, fit

distributed.setup(torch.device("cpu"))
rank, size = distributed.world()
rng = np.random.default_rng(0)
users, items = rng.integers(0, 40, 600), rng.integers(0, 30, 600)
train = Interactions.from_raw(users, items, rng.integers(1, 6, 600).astype(np.float32))
out = {"world": size}
for optimizer, every in (("adam", 1), ("sparse-adam", 1), ("sparse-adam", 2), ("adam", 3)):
    torch.manual_seed(100 + rank)  # the ranks start apart: DDP (or local SGD's first exchange) must bring them together
    model = build_model("biased-mf", train.n_users, train.n_items, factors=4)
    start = torch.cat([p.detach().flatten() for p in model.parameters()]).clone()
    cfg = TrainConfig(epochs=1, batch_size=128, optimizer=optimizer, progress=False, threads=1, sync_every=every)
    history = fit(model, RatingTask(train), cfg)
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(size)]
    dist.all_gather(gathered, flat)
    out[f"{optimizer}/{every}"] = {"max_diff": max(float((g - gathered[0]).abs().max()) for g in gathered),
                      "moved": float((flat - start).abs().max()), "examples": history.epochs[0]["examples_per_s"] > 0,
                      "count_rows": len(train)}
# local SGD's exchange on a hand-made table: rank 0 moves row 0 by 1; rank 1 row 0 by 3 and row 2 by 2 (both applied)
table = torch.nn.Embedding(4, 2)
torch.nn.init.zeros_(table.weight)
averager = distributed.LocalSGD(table, every=1)
with torch.no_grad():
    table.weight[0] += 1.0 if rank == 0 else 3.0
    if rank == 1:
        table.weight[2] += 2.0
averager.step()
out["exchange"] = table.weight.detach().tolist()
if rank == 0:
    with open(sys.argv[1], "w") as fh:
        json.dump(out, fh)
distributed.teardown()
