"""The one training loop.

A *task* (:mod:`deeprecs.tasks`, chosen by the model) turns training data into mini-batch losses.
The loop owns everything else: seeds, threads, the optimiser, the progress bar, per-epoch
throughput, validation, early stopping (best weights restored) and the history. It runs on the
model's device: the epoch's permutation, the negatives and the loss stay there, and the loss is
summed there too, so a step never waits for the host (one synchronisation per epoch, for the
history and the divergence check).
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Literal, Protocol

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from tqdm.auto import tqdm

from deeprecs import distributed
from deeprecs.allocator import reuse_freed_memory
from deeprecs.devices import float64_ok
from deeprecs.errors import ConfigError, DeeprecsError
from deeprecs.lazy_adam import LazyAdam
from deeprecs.search import float_range, int_range
from deeprecs.tasks import RankingTask, RatingTask  # noqa: F401 - the standard tasks, where the loop's users look for them

if TYPE_CHECKING:
    from deeprecs.models.base import Recommender

log = logging.getLogger("deeprecs")


class TrainConfig(BaseModel):
    """Options of the training loop (model options live in each model's config)."""

    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(40, ge=0, description="maximum number of epochs")
    batch_size: int = Field(1024, ge=1, description="training examples (rows) per optimiser step")
    min_steps_per_epoch: int = Field(0, ge=0, description="shrink batch_size on small data so that an epoch has at least this many steps (0: off)")
    lr: float = Field(5e-3, gt=0, description="learning rate", json_schema_extra=float_range(1e-4, 5e-2, log=True))
    optimizer: Literal["adam", "adamw", "sgd", "adagrad", "sparse-adam"] = Field(
        "adam", description="sparse-adam: lazy Adam on embedding rows a batch touches (pays on large tables)")
    weight_decay: float = Field(0.0, ge=0, description="optimiser weight decay (on every parameter)")
    lr_decay: float = Field(1.0, gt=0, le=1, description="multiply the learning rate by this after each epoch")
    patience: int = Field(5, ge=0, description="epochs without validation improvement before stopping (0: never stop early)")
    seed: int = 0
    loss: str = ""
    n_negatives: int = Field(4, ge=1, description="negatives per positive (ranking)", json_schema_extra=int_range(1, 16, log=True))
    sampler: Literal["uniform-excl", "uniform", "popularity", "hard"] = Field(
        "uniform-excl", description="negative sampler (ranking): uniform over the user's non-positives, uniform, popularity, hard (WARP's)")
    sampler_alpha: float = Field(0.75, description="popularity exponent of the popularity sampler")
    margin: float = Field(1.0, description="margin of the margin and warp losses", json_schema_extra=float_range(0.1, 2.0, log=True))
    mask_seen: bool = Field(False, description="sequential models: leave the items a position has already read (the row up "
                            "to it) out of that position's negatives, the softmax's or sampled ones (never its own target)")
    mask_history: bool = Field(False, description="sequential models: leave every item of the user's training history "
                               "(earlier or later, a superset of --mask-seen's) out of each position's negatives (never "
                               "its own target), as evaluation leaves a user's known items out of the candidates")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="sequential models' full-softmax: weight spread evenly over "
                                   "the other items in the cross-entropy's target (0: none)")
    recency: float = Field(0.0, ge=0, description="ranking, data with timestamps: draw a user's latest positives more "
                           "often, in proportion to 1 + recency exp(-r / recency_scale), r = the user's positives after it (0: uniformly)")
    recency_scale: float = Field(5.0, gt=0, description="how many of a user's latest positives the recency boost spans (e-folding)")
    confidence: Literal["log", "linear"] = Field("log", description="data with row weights (counts, quantities): a weight w counts "
                                                  "as 1 + log2(w) (log) or w (linear), in ALS's confidences and in how often "
                                                  "the loop draws a positive")
    refit_epochs: int = Field(0, ge=0, description="the refit on train + validation (--refit): 0: a fresh model trained for the "
                              "epochs early stopping kept; N: the validation fit's weights trained N more epochs (a warm refit, "
                              "for a model that takes one)")
    threads: int = Field(0, ge=0, description="torch threads (0: all cores)")
    sync_every: int = Field(1, ge=1, description="several processes (--nproc): 1: DDP, the gradients all-reduced at every "
                            "step; K > 1: local SGD, each rank steps on its own shard with its own optimiser, and every K steps "
                            "(and at each epoch's end) every rank's change to the parameters is applied on every rank")
    progress: bool = True


@dataclass
class History:
    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_valid: float | None = None
    #: the starting weights' validation value (``fit(validate_start=True)``: pre-trained runs)
    start_valid: float | None = None
    valid_metric: str = ""
    fit_seconds: float = 0.0
    stopped_early: bool = False
    #: a blend's: each trained member's best epoch (-1: closed form), in member order
    member_best_epochs: list[int] = field(default_factory=list)


class Task(Protocol):
    """What the loop trains on (:mod:`deeprecs.tasks`)."""

    weights: torch.Tensor | None

    def __len__(self) -> int: ...
    def prepare(self, model: Recommender) -> None: ...
    def loss(self, model: Recommender, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor: ...
    # optional: ``batches(batch_size, generator) -> Iterator[idx]``, one epoch of row indices chosen by
    # the task (default: a random permutation, or draws in proportion to ``weights``)


# ---------------------------------------------------------------------------- the loop
class SparseDenseOptimizer:
    """Lazy Adam on the embedding tables (:class:`~deeprecs.lazy_adam.LazyAdam`, ``SparseAdam``'s
    rule: only the rows a batch touched are updated, so the cost of a step no longer grows with
    the catalogue) and ``Adam`` on everything else."""

    def __init__(self, model: Recommender, lr: float, shard: tuple[int, int] = (0, 1)) -> None:
        """``shard``: ``(rank, world_size)`` when the ranks share one summed gradient (DDP): each
        updates its share of the touched rows (:class:`~deeprecs.lazy_adam.LazyAdam`)."""
        tables = [m for m in model.modules() if isinstance(m, nn.Embedding) and m.weight.requires_grad]
        for table in tables:
            table.sparse = True
        sparse_ids = {id(t.weight) for t in tables}
        self.sparse = [t.weight for t in tables]
        dense = [p for p in model.parameters() if p.requires_grad and id(p) not in sparse_ids]
        self.optimizers = [LazyAdam(self.sparse, lr=lr, shard=shard)] if self.sparse else []
        if dense:
            self.optimizers.append(torch.optim.Adam(dense, lr=lr))

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()


def _optimizer(model: Recommender, cfg: TrainConfig, shard: tuple[int, int] = (0, 1)):
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sparse-adam":
        if cfg.weight_decay:
            raise ConfigError("sparse-adam has no weight decay; use the models' --l2 (per-example) instead")
        return SparseDenseOptimizer(model, cfg.lr, shard)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _batches(n: int, batch_size: int, generator: torch.Generator, weights: torch.Tensor | None = None,
             ranks: tuple[int, int] = (0, 1)) -> Iterator[torch.Tensor]:
    """One epoch of row indices on the generator's device: a permutation of ``range(n)``, or, with
    ``weights``, ``n`` rows drawn with replacement in proportion to them (the weighted loss, in
    expectation). ``ranks``: ``(rank, world_size)``: this rank's shard of the epoch (the
    generator must then be the same on every rank), in batches of ``batch_size / world_size``."""
    if weights is None:
        perm = torch.randperm(n, generator=generator, device=generator.device)
    else:
        perm = torch.multinomial(weights, n, replacement=True, generator=generator)
    perm = distributed.shard(perm, *ranks)
    n, batch_size = len(perm), -(-batch_size // ranks[1])
    for start in range(0, n, batch_size):
        yield perm[start : start + batch_size]


def seed_everything(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """Seed torch and numpy; returns a generator on ``device`` seeded with ``seed`` (on the CPU the
    same stream as ``torch.Generator().manual_seed(seed)``)."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    return torch.Generator(device=device).manual_seed(seed)


Validator = Callable[["Recommender"], float]


def better(value: float, than: float | None, higher_is_better: bool) -> bool:
    """Whether a validation ``value`` beats ``than`` (``None``: nothing yet)."""
    return than is None or (value > than if higher_is_better else value < than)


def fit(
    model: Recommender,
    task: Task,
    cfg: TrainConfig,
    validate: Validator | None = None,
    valid_metric: str = "valid",
    higher_is_better: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    validate_start: bool = False,
) -> History:
    """Train ``model`` on ``task``; with ``validate``, keep the best epoch's weights.

    ``validate_start``: the starting weights compete too, as epoch 0 (``history.start_valid``): a
    model fine-tuned from pre-trained runs keeps its start when no epoch of fine-tuning beats it
    on validation (``best_epoch`` 0; a refit then trains for no epochs). Patience counts from
    the best trained epoch, not from the start. On the CPU, freed memory is kept for the next
    step while it runs (:mod:`deeprecs.allocator`)."""
    with reuse_freed_memory(enabled=model.device.type == "cpu"):
        return _fit(model, task, cfg, validate, valid_metric, higher_is_better, on_epoch, validate_start)


def _fit(model: Recommender, task: Task, cfg: TrainConfig, validate: Validator | None, valid_metric: str,
         higher_is_better: bool, on_epoch: Callable[[dict], None] | None, validate_start: bool) -> History:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = model.device
    rank, size = distributed.world()
    generator = seed_everything(cfg.seed + rank, device)  # each rank its own negatives
    task.prepare(model)
    history = History(valid_metric=valid_metric)
    trainable = any(p.requires_grad for p in model.parameters())
    if not trainable or cfg.epochs == 0 or len(task) == 0:
        return history
    local = size > 1 and cfg.sync_every > 1  # local SGD: no gradient all-reduce, the ranks' changes exchanged every K steps
    opt = _optimizer(model, cfg, (0, 1) if local else (rank, size))  # sparse-adam makes the tables sparse: before DDP sees them
    step_loss = distributed.loss_step(model, task, exact=not local)
    exchange = distributed.LocalSGD(model, cfg.sync_every) if local else None
    inner = opt.optimizers if isinstance(opt, SparseDenseOptimizer) else [opt]
    scheds = [torch.optim.lr_scheduler.ExponentialLR(o, cfg.lr_decay) for o in inner] if cfg.lr_decay < 1 else []
    best_state, bad_epochs, trained_best = None, 0, None
    batch_size = cfg.batch_size
    if cfg.min_steps_per_epoch:  # a batch size tuned on large data would give small data a few steps an epoch
        batch_size = max(1, min(batch_size, math.ceil(len(task) / cfg.min_steps_per_epoch)))
    start_all = time.perf_counter()
    if validate is not None and validate_start:
        model.eval()
        with torch.no_grad():
            history.start_valid = history.best_valid = distributed.from_main(float(validate(model)) if rank == 0 else 0.0)
        history.best_epoch, best_state = 0, copy.deepcopy(model.state_dict())
        if cfg.progress:
            tqdm.write(f"epoch   0  (start)  {valid_metric} {history.best_valid:.4f}", file=sys.stderr)
    bar = tqdm(range(cfg.epochs), desc=f"train {model.name}", unit="epoch", disable=None if cfg.progress else True, leave=False)
    for epoch in bar:
        model.train()
        t0, cpu0 = time.perf_counter(), time.process_time()
        total = torch.zeros((), dtype=torch.float64 if float64_ok(device) else torch.float32, device=device)
        count = 0
        # several ranks: the same order on each (seeded by the epoch), each its shard
        order = generator if size == 1 else torch.Generator(device=device).manual_seed(cfg.seed * 100_003 + epoch)
        own = getattr(task, "batches", None)  # a task may group its rows itself (sequences of like lengths)
        epoch_batches = (distributed.shard_batches(own(batch_size, order), rank, size) if own
                         else _batches(len(task), batch_size, order, getattr(task, "weights", None), (rank, size)))
        for idx in epoch_batches:
            opt.zero_grad(set_to_none=True)
            loss = step_loss(idx, generator)
            loss.backward()
            opt.step()
            model.after_step()
            if exchange is not None and exchange.step():
                model.after_step()  # the summed changes, projected again
            total += loss.detach() * len(idx)  # on the device: no synchronisation per step
            count += len(idx)
        if exchange is not None and exchange.sync():  # every rank validates and keeps the same weights
            model.after_step()
        for sched in scheds:
            sched.step()
        total, summed, cpu = distributed.all_sum(total, torch.tensor(float(count), device=device),
                                                 torch.tensor(time.process_time() - cpu0, device=device))
        count = int(summed)
        train_loss = float(total) / max(count, 1)
        seconds = time.perf_counter() - t0
        if not math.isfinite(train_loss):
            raise DeeprecsError(f"training diverged at epoch {epoch + 1} (loss {train_loss}); lower --lr")
        row = {"epoch": epoch + 1, "train_loss": train_loss, "seconds": seconds, "examples_per_s": count / max(seconds, 1e-9),
               "cpu_seconds": float(cpu)}  # all ranks' processor time: on a shared machine, what a run cost
        if validate is not None:
            model.eval()
            with torch.no_grad():
                value = distributed.from_main(float(validate(model)) if rank == 0 else 0.0)
            row[valid_metric] = value
            if better(value, history.best_valid, higher_is_better):
                history.best_valid, history.best_epoch = value, epoch + 1
                best_state = copy.deepcopy(model.state_dict())
            # patience counts the epochs since training's own best: a validated start can be kept,
            # but it does not cut the fine-tuning short (it often dips first, then climbs past it)
            if better(value, trained_best, higher_is_better):
                trained_best, bad_epochs = value, 0
            else:
                bad_epochs += 1
        history.epochs.append(row)
        if on_epoch:
            on_epoch(row)
        post = {"loss": f"{train_loss:.4f}", "ex/s": f"{row['examples_per_s']:,.0f}"}
        if validate is not None:
            post[valid_metric] = f"{row[valid_metric]:.4f}"
        bar.set_postfix(post)
        if cfg.progress:
            tqdm.write(f"epoch {epoch + 1:3d}  loss {train_loss:.4f}  " + (f"{valid_metric} {row.get(valid_metric, float('nan')):.4f}  " if validate else "") + f"{row['examples_per_s']:,.0f} examples/s  {seconds:.2f} s",
                       file=sys.stderr)  # stdout stays for results (`train --json`)
        if validate is not None and cfg.patience and bad_epochs >= cfg.patience:
            history.stopped_early = True
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history.fit_seconds = time.perf_counter() - start_all
    return history

