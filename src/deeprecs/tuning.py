"""``deeprecs tune``: a model's options searched with Optuna on the validation part only, the best saved as a run.

The search space is read off the configs (:mod:`deeprecs.search`): the model's fields that declare a
range, and the training loop's that matter for it (the learning rate for a model trained by
gradients, negatives per positive for ranking, the margin for the margin and WARP losses), less
whatever the user fixed. The data is loaded and split once; each trial sets the model up as
``train`` does (its data fitted, its validation grid for the options not searched, its warm start),
trains it with early stopping on the validation part, and is scored by that validation metric.
Test data is never looked at until the best options are trained once more as an ordinary run
(``train``'s own code path, so ``deeprecs train`` with those options reproduces it) whose directory
also holds ``tuning.json``: every trial, its options, value and time.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from deeprecs.devices import resolve_device
from deeprecs.errors import ConfigError
from deeprecs.models import get_model_class
from deeprecs.pipeline import Context, TrainSpec, load_data, prepare_split, resolve_task, setup, train
from deeprecs.pipeline.data import load_features_of
from deeprecs.pipeline.pretrain import load_runs, same_split_as_runs
from deeprecs.search import space_of
from deeprecs.training import TrainConfig, seed_everything

log = logging.getLogger("deeprecs")


def search_space(spec: TrainSpec, task: str) -> dict[str, dict[str, dict]]:
    """``{"model": {field: range}, "train": {field: range}}`` for ``spec``'s model on ``task``,
    less the options ``spec`` fixes."""
    cls = get_model_class(spec.model)
    loss = spec.loss or cls.default_loss.get(task, "")
    wanted = set()
    if loss != "none":
        wanted.add("lr")
        if task == "ranking":
            wanted.add("n_negatives")
        if loss in ("margin", "warp"):
            wanted.add("margin")
    train_space = {k: v for k, v in space_of(TrainConfig).items() if k in wanted and k not in spec.train_options}
    return {"model": space_of(cls.Config, set(spec.model_options)), "train": train_space}


def suggest(trial, name: str, rng: dict):  # noqa: ANN001, ANN201 - an optuna Trial; the value
    if rng["type"] == "int":
        return trial.suggest_int(name, rng["low"], rng["high"], log=rng["log"])
    if rng["type"] == "float":
        return trial.suggest_float(name, rng["low"], rng["high"], log=rng["log"])
    return trial.suggest_categorical(name, rng["values"])


@dataclass
class TuneResult:
    spec: TrainSpec
    metric: str
    higher_is_better: bool
    trials: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def best(self) -> dict:
        done = [t for t in self.trials if t["value"] is not None]
        return (max if self.higher_is_better else min)(done, key=lambda t: t["value"])

    def as_json(self) -> dict:
        return {"model": self.spec.model, "metric": self.metric, "direction": "maximize" if self.higher_is_better else "minimize",
                "best": self.best, "trials": self.trials, "seconds": round(self.seconds, 1), "command": command_line(self.spec)}


def tune(spec: TrainSpec, trials: int = 20, timeout: float | None = None, progress: bool = True) -> TuneResult:
    """Search ``spec``'s model's options on the validation part (see the module docstring); returns
    the trials and the spec of the best (the user's options with the best found)."""
    import optuna

    t0 = time.perf_counter()
    device = resolve_device(spec.device)
    same_split_as_runs(spec)
    ds = load_data(spec)
    features = load_features_of(spec, ds, get_model_class(spec.model))
    task = resolve_task(spec, ds, get_model_class(spec.model).tasks)
    split = prepare_split(spec, ds, task)
    if split.valid is None or not len(split.valid):
        raise ConfigError("tune needs a validation part to score the trials on (--valid-fraction > 0)")
    runs = load_runs(spec.pretrain, split.train, device) if spec.pretrain else []
    space = search_space(spec, task)
    if not space["model"] and not space["train"]:
        raise ConfigError(f"{spec.model} has no options to search (none of its config's fields declares a range, or you fixed them all)")
    probe = Context(spec, ds, split, task, device, False, pretrained=runs)
    _, metric, higher = probe.validator()
    result = TuneResult(spec, metric, higher)

    def objective(trial) -> float:  # noqa: ANN001
        model_values = {k: suggest(trial, k, r) for k, r in space["model"].items()}
        train_values = {k: suggest(trial, k, r) for k, r in space["train"].items()}
        trial_spec = replace(spec, model_options={**spec.model_options, **model_values}, train_options={**spec.train_options, **train_values})
        started = time.perf_counter()
        ctx = Context(trial_spec, ds, split, task, device, False, pretrained=runs, features=features)
        seed_everything(spec.seed)
        if ctx.resolve().train.threads:
            torch.set_num_threads(ctx.resolve().train.threads)
        model = setup(ctx)
        history = model.fit(ctx)
        validate, _, _ = ctx.validator()
        value = history.best_valid if history.best_valid is not None else float(validate(model))
        result.trials.append({"number": trial.number, "model_options": model_values, "train_options": train_values,
                              "value": value if math.isfinite(value) else None, "seconds": round(time.perf_counter() - started, 2)})
        return value

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if higher else "minimize", sampler=optuna.samplers.TPESampler(seed=spec.seed))
    study.optimize(objective, n_trials=trials, timeout=timeout, show_progress_bar=progress, catch=())
    if not any(t["value"] is not None for t in result.trials):
        raise ConfigError("no trial finished with a finite validation value; narrow the options or give more --timeout")
    best = result.best
    result.spec = replace(spec, model_options={**spec.model_options, **best["model_options"]},
                          train_options={**spec.train_options, **best["train_options"]})
    result.seconds = time.perf_counter() - t0
    log.info("tune %s: best %s %.4f at trial %d of %d (%s)", spec.model, metric, best["value"], best["number"], len(result.trials),
             {**best["model_options"], **best["train_options"]})
    return result


def tune_and_train(spec: TrainSpec, out: str | Path, trials: int = 20, timeout: float | None = None, progress: bool = True):
    """:func:`tune`, then the best options trained as an ordinary run in ``out`` (with ``tuning.json``);
    returns ``(result, metrics)``."""
    result = tune(spec, trials, timeout, progress)
    _, metrics, *_ = train(result.spec, out=out, progress=progress, extras={"tuning.json": result.as_json()})
    return result, metrics


def command_line(spec: TrainSpec) -> str:
    """The ``deeprecs train`` command that trains ``spec`` again."""
    import shlex

    parts = ["deeprecs", "train", spec.model, "--data", spec.data, "--split", spec.split, "--seed", str(spec.seed)]
    for flag, value in (("--task", spec.task), ("--loss", spec.loss), ("--positive", spec.positive), ("--threshold", spec.threshold),
                        ("--rating-map", spec.rating_map), ("--sep", spec.sep), ("--device", None if spec.device == "auto" else spec.device),
                        ("--memory-budget", spec.memory_budget)):
        if value is not None:
            parts += [flag, str(value)]
    if spec.columns:
        parts += ["--columns", ",".join(f"{k}={v or ''}" for k, v in spec.columns.items())]
    if spec.duplicates != "last":
        parts += ["--duplicates", spec.duplicates]
    if spec.pretrain:
        parts += ["--pretrain", ",".join(spec.pretrain)]
    if spec.refit is not None:
        parts.append("--refit" if spec.refit else "--no-refit")
    if not spec.dislikes:
        parts.append("--no-dislikes")
    if spec.valid_fraction != TrainSpec.valid_fraction:
        parts += ["--valid-fraction", str(spec.valid_fraction)]
    for name, value in {**spec.model_options, **spec.train_options}.items():
        parts += [f"--{name.replace('_', '-')}", _as_text(value)]
    return " ".join(shlex.quote(p) for p in parts)


def _as_text(value) -> str:  # noqa: ANN001
    """An option's value as the CLI reads it back (:mod:`deeprecs.cli.options`)."""
    import json

    if isinstance(value, list):
        return json.dumps(value) if any(isinstance(v, (dict, list)) for v in value) else ",".join(map(_as_text, value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


__all__ = ["TuneResult", "command_line", "search_space", "tune", "tune_and_train"]
