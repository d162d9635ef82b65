"""Training on several processes with PyTorch's own engine (``torch.distributed``, ``DistributedDataParallel``).

``deeprecs train ... --nproc N`` starts N copies of itself through ``torch.distributed.run``
(:func:`deeprecs.launch.launch`); ``torchrun --nproc-per-node N -m deeprecs train ...`` does the same by hand.
Each rank loads the data and splits it as the others do (same seed), then:

* the one training loop (:mod:`deeprecs.training`) draws each epoch's permutation from a
  generator seeded with the seed and the epoch, the same on every rank, and each rank takes its
  own interleaved shard of it (padded to equal length, as ``DistributedSampler`` does), in
  batches of ``batch_size / N``: the same examples per epoch and per step as one process;
* the loss goes through :class:`LossModule` wrapped in ``DistributedDataParallel``, which
  averages the gradients over the ranks during the backward pass (gloo on the CPU, NCCL on
  GPUs); sparse embedding gradients (``--optimizer sparse-adam``) are first summed per row on
  each rank (:func:`deeprecs.lazy_adam.coalesce_rows`, a hook on each table: each touched row is
  sent once), then all-reduced by DDP as sparse tensors on gloo (an all-gather of the rows and
  their values, summed); NCCL has no sparse all-reduce, so there they are refused;
* ``--sync-every K`` (K > 1) trains by local SGD instead (PyTorch's post-local SGD, with a rule
  for embedding rows): no gradient is all-reduced; each rank steps on its own shard with its own
  optimiser, and every ``K`` steps and at the end of each epoch :class:`LocalSGD` applies every
  rank's change since the last exchange on every rank (one dense all-reduce of the changes,
  summed): a row that one rank touched keeps that rank's update whole, rather than having it
  halved as plain averaging would. The ranks are equal after each exchange.
  It works the same on NCCL, sparse tables included;
* rank 0 alone validates; its value is broadcast, so every rank keeps the same best epoch and
  stops at the same time; rank 0 alone evaluates on test and writes the run directory (at the
  end, atomically), so a rank that fails leaves no run behind.
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
from torch import nn

from deeprecs.errors import ConfigError
from deeprecs.lazy_adam import coalesce_rows


def world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return world()[0] == 0


def setup(device: torch.device) -> torch.device:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1): gloo
    on the CPU, NCCL on CUDA (each rank its ``LOCAL_RANK``'s GPU). Returns the rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    elif device.type == "cpu":
        dist.init_process_group("gloo")
    else:
        raise ConfigError(f"distributed training runs on cpu (gloo) or cuda (NCCL), not {device.type}")
    return device


def teardown(wait: bool = False) -> None:
    """Leave the process group. ``wait`` (a run that ended well): first wait for every rank to get
    here, rank 0 after evaluating and writing the run, so that no rank closes its connections while
    another still holds them (a rank that left early was seen, once in many runs, to abort in gloo's
    teardown: "terminate called without an active exception"). Not after an error: a rank may be gone."""
    if dist.is_available() and dist.is_initialized():
        if wait and dist.get_world_size() > 1:
            if dist.get_backend() == "gloo":  # rank 0's evaluation may take long: no 30-minute default timeout
                dist.monitored_barrier(timeout=datetime.timedelta(days=7))
            else:
                dist.barrier()
        dist.destroy_process_group()


class LossModule(nn.Module):
    """``forward(idx, generator) = task.loss(model, idx, generator)``: the step DDP wraps (a
    model's scores come from several of its methods, not only ``forward``)."""

    def __init__(self, model: nn.Module, task) -> None:  # noqa: ANN001 - a training task
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.task.loss(self.model, idx, generator)


def loss_step(model: nn.Module, task, exact: bool = True):  # noqa: ANN001, ANN201 - a training task; the loss callable
    """``loss(idx, generator)``: the task's loss, through DDP when there is more than one rank
    (``exact``; else each rank's own, for local SGD: :class:`LocalSGD`)."""
    if world()[1] == 1 or not exact:
        return lambda idx, generator: task.loss(model, idx, generator)
    device = next(model.parameters()).device
    sparse = any(isinstance(m, nn.Embedding) and m.sparse for m in model.modules())
    if sparse and dist.get_backend() == "nccl":
        raise ConfigError("--optimizer sparse-adam with several GPUs: NCCL cannot all-reduce sparse gradients; use adam")
    if sparse:  # each touched row once in the all-reduce (and coalesced for the optimiser): summed here, without a sort
        for table in model.modules():
            if isinstance(table, nn.Embedding) and table.sparse:
                table.weight.register_hook(coalesce_rows)
    ids = [device.index] if device.type == "cuda" else None
    # buffers (item sets, CSR rows) come from the data, the same on every rank: synced once, not each step
    return nn.parallel.DistributedDataParallel(LossModule(model, task), device_ids=ids, forward_sync_buffers=False,
                                               find_unused_parameters=unused(model, task))


class LocalSGD:
    """Local SGD's exchange (``--sync-every K``): every ``K`` calls of :meth:`step`, every rank's
    change to the parameters since the last exchange is applied on every rank (the changes are
    summed: as if the ranks' steps had been taken one after another, Hogwild's rule; averaging
    them instead would halve the update of an embedding row that one rank alone touched, and on
    planted data learned less: AUC 0.776 against 0.805 summed and 0.806 on one process). Built,
    it gives every rank rank 0's parameters and buffers (as DDP does)."""

    def __init__(self, model: nn.Module, every: int) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.every, self.steps, self.synced = every, 0, 0
        with torch.no_grad():
            for tensor in [*model.parameters(), *model.buffers()]:
                dist.broadcast(tensor.data, 0)
        self.anchor = [p.detach().clone() for p in self.params]

    def step(self) -> bool:
        """After each optimiser step; whether this one exchanged."""
        self.steps += 1
        return self.steps % self.every == 0 and self.sync()

    @torch.no_grad()
    def sync(self) -> bool:
        """The exchange now (nothing when no step was taken since the last one): one all-reduce
        of every parameter's change since the last exchange. Whether it exchanged."""
        if self.steps == self.synced:
            return False
        self.synced = self.steps
        flat = torch.cat([(p - a).reshape(-1) for p, a in zip(self.params, self.anchor)])
        dist.all_reduce(flat)
        at = 0
        for p, a in zip(self.params, self.anchor):
            a.add_(flat[at : at + a.numel()].view_as(a))
            p.copy_(a)
            at += a.numel()
        return True


def unused(model: nn.Module, task) -> bool:  # noqa: ANN001 - a training task
    """Whether a step leaves a trainable parameter without a gradient (DDP must then look for
    them every step): one trial loss on a few rows, its gradients dropped."""
    device = next(model.parameters()).device
    idx = torch.arange(min(len(task), 8), device=device)
    task.loss(model, idx, torch.Generator(device=device).manual_seed(0)).backward()
    found = any(p.requires_grad and p.grad is None for p in model.parameters())
    model.zero_grad(set_to_none=True)
    return found


def shard(perm: torch.Tensor, rank: int, size: int) -> torch.Tensor:
    """Rank ``rank``'s interleaved share of ``perm``, padded from its start so that every rank has
    ``ceil(len / size)`` rows (``DistributedSampler``'s rule)."""
    if size == 1:
        return perm
    total = -(-len(perm) // size) * size
    if total > len(perm):
        perm = torch.cat([perm, perm[: total - len(perm)]])
    return perm[rank::size]


def shard_batches(batches, rank: int, size: int) -> list:  # noqa: ANN001 - an iterable of index tensors
    """Rank ``rank``'s share of an epoch's batches that a task grouped itself: every ``size``-th
    batch, the tail that not every rank would get dropped (DDP steps must line up across ranks)."""
    if size == 1:
        return list(batches)
    batches = list(batches)
    return batches[: len(batches) // size * size][rank::size]


def all_sum(*values: torch.Tensor) -> list[torch.Tensor]:
    """The values summed over the ranks (one all-reduce)."""
    if world()[1] == 1:
        return list(values)
    flat = torch.stack([v.double() if v.device.type == "cpu" else v.float() for v in values])
    dist.all_reduce(flat)
    return list(flat.unbind())


def from_main(value: float) -> float:
    """Rank 0's ``value`` on every rank."""
    if world()[1] == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return float(box[0])


__all__ = ["LossModule", "LocalSGD", "all_sum", "from_main", "is_main", "loss_step", "setup", "shard", "shard_batches", "teardown", "unused", "world"]
