"""``deeprecs train MODEL --data ... --out RUN [model and training options]``.

MODEL comes first: its config's fields (``deeprecs models MODEL``) and the training loop's
(:class:`~deeprecs.training.TrainConfig`) become typed options, with their help text
(``deeprecs train MODEL --help``).
"""

from __future__ import annotations

import json
import logging
import os

import click

from deeprecs.cli.options import config_options, split_options
from deeprecs.devices import DEVICE_HELP
from deeprecs.errors import ConfigError

#: training-loop fields set by the run itself or by a fixed option of its own
_TRAIN_FIXED = {"seed", "progress", "loss"}
#: model fields set by the run (vocabulary sizes) or by a fixed option (``--task``, ``--seed``)
_MODEL_FIXED = {"n_users", "n_items", "n_user_features", "n_item_features", "task", "seed"}

_FIXED = [
    click.Option(["--data"], required=True, help="Dataset name (ml-100k, ...), ncf:PREFIX, or a path."),
    click.Option(["--split", "split_spec"], default=None, show_default="random:0.2 (ncf data: its own split)",
                 help="random:F | holdout:K | canonical:u1..u5,ua,ub | loo | temporal:F | cold-items:F | cold-users:F (every row of a seeded F of the items or users to test)"),
    click.Option(["--seed"], default=0, show_default=True, type=int),
    click.Option(["--out"], required=True, type=click.Path(), help="Run directory to write."),
    click.Option(["--task"], type=click.Choice(["rating", "ranking"]), default=None, help="Default: from the data."),
    click.Option(["--loss"], default=None, help="mse (rating); bce, bpr, margin, warp, softmax, shared-softmax, full-softmax (ranking; softmax: sampled softmax "
                 "over the positive and its negatives; shared-softmax: over --n-negatives items drawn once per step for the "
                 "whole batch, logQ-corrected; full-softmax: cross-entropy over every item)."),
    click.Option(["--positive"], type=float, default=None, help="Positive-only: keep ratings >= this as positives."),
    click.Option(["--threshold"], type=float, default=None, help="Binarise ratings: >= this -> 1, else 0."),
    click.Option(["--rating-map"], default=None, help="Recode ratings, e.g. 1:-1,2:-1,3:0,4:1,5:1"),
    click.Option(["--from", "from_path"], type=click.Path(exists=True), default=None, help="Local archive/folder for the dataset."),
    click.Option(["--columns"], default=None, metavar="ROLE=COL,...",
                 help="Your own table's columns by role: user, item, rating, timestamp, weight (a positive count or quantity: "
                 "implicit confidence), e.g. user=customer_id,item=sku,weight=qty,timestamp=ts; ROLE= (empty): no such column."),
    click.Option(["--sep"], default=None, help="Your own table's separator (default: from the extension: .csv comma, .tsv tab); "
                 "'\\t' for a tab."),
    click.Option(["--duplicates"], type=click.Choice(["last", "first", "mean", "sum", "error"]), default="last", show_default=True,
                 help="Repeated (user, item) pairs: keep the latest (by timestamp, else file order), the first, the mean or the "
                 "sum of their ratings and weights, or refuse them."),
    click.Option(["--valid-fraction"], default=0.05, show_default=True, type=float,
                 help="Fraction of train held out for early stopping when the split has no validation part."),
    click.Option(["--pretrain"], default=None, help="Trained runs to start from, comma-separated (what a model takes: "
                 "`deeprecs models MODEL`). The runs must share this run's --split, --seed and --positive"),
    click.Option(["--refit/--no-refit"], default=None, show_default="on for loo and NCF data, off otherwise",
                 help="Once validation has chosen the settings and the epochs, fit again on train + validation (a model "
                 "whose fresh refit is not worth its cost refits only with --refit-epochs N > 0: a warm refit)."),
    click.Option(["--dislikes/--no-dislikes"], default=True, show_default=True,
                 help="With --positive: keep the train ratings below it as known dislikes (ranked last, never recommended)."),
    click.Option(["--device"], default="auto", show_default=True, help=f"Where to train and evaluate: {DEVICE_HELP}."),
    click.Option(["--memory-budget"], type=click.FloatRange(min=0, min_open=True), default=None, show_default="90% of the memory available",
                 help="GiB the dense items x items matrices (EASE, RP3beta) may take: over it a model refuses and a ranking "
                 "blend leaves such members out."),
    click.Option(["--nproc"], type=click.IntRange(min=1), default=1, show_default=True,
                 help="Train on this many processes (torch.distributed.run; DistributedDataParallel, gloo on cpu, NCCL on "
                 "cuda): each trains its shard of every epoch, rank 0 validates and writes the run."),
    click.Option(["--user-features"], default=None, type=click.Path(), help="Models that read features: your table of user features "
                 "(CSV/TSV/Parquet; first column: the user id). Default: the dataset's own side data, where it ships some."),
    click.Option(["--item-features"], default=None, type=click.Path(), help="The same for items."),
    click.Option(["--user-feature-columns"], default=None, metavar="NAME=ROLE,...", help="Roles of --user-features' columns: "
                 "categorical, multi:SEP (several values), bucket:N (a number cut at N quantiles), scale (a number, standardised); "
                 "default: numbers with over 20 distinct values bucket:10, others categorical. A missing value is its own feature."),
    click.Option(["--item-feature-columns"], default=None, metavar="NAME=ROLE,...", help="The same for --item-features."),
    click.Option(["--features/--no-features"], default=True, show_default=True,
                 help="Models that read features: use them (the dataset's own side data by default)."),
    click.Option(["--json", "as_json"], is_flag=True, help="Print the metrics as JSON."),
]
_TAKES_VALUE = {opt for o in _FIXED if not o.is_flag and not o.secondary_opts for opt in o.opts}


def parse_columns(text: str | None) -> dict[str, str | None]:
    """``user=customer_id,item=sku,weight=qty`` -> ``{"user": "customer_id", ...}`` (``ROLE=``: absent)."""
    from deeprecs.data.load import DEFAULT_COLUMNS

    out: dict[str, str | None] = {}
    for part in [p for p in (text or "").split(",") if p.strip()]:
        role, eq, column = part.partition("=")
        role = role.strip()
        if not eq or role not in DEFAULT_COLUMNS:
            raise ConfigError(f"--columns {text!r}: each entry is ROLE=COLUMN with ROLE one of {', '.join(DEFAULT_COLUMNS)}; got {part!r}")
        out[role] = column.strip() or None
    return out


def _model_name(args: list[str]) -> str | None:
    """MODEL: the first argument that is neither an option nor a fixed option's value."""
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _TAKES_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def model_options(name: str) -> list[click.Option]:
    """The options of model ``name``: its config's fields, then the training loop's."""
    from deeprecs.models import get_model_class
    from deeprecs.training import TrainConfig

    cls = get_model_class(name)
    shared = (set(cls.Config.model_fields) - _MODEL_FIXED) & (set(TrainConfig.model_fields) - _TRAIN_FIXED)
    if shared:
        raise ConfigError(f"{name}'s options {sorted(shared)} are also training options: rename them in its config")
    return (config_options(cls.Config, _MODEL_FIXED, "model", cls.model_defaults)
            + config_options(TrainConfig, _TRAIN_FIXED, "train", cls.train_defaults))


class ModelCommand(click.Command):
    """A command whose options depend on its first argument, the model: the run's fixed options,
    the command's own (``extra``), then the model's and the training loop's."""

    extra: tuple[click.Option, ...] = ()

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["deeprecs.args"] = list(args)  # for --nproc: the same command on each rank
        name = _model_name(args)
        self.params = [click.Argument(["model"]), *_FIXED, *self.extra, *(model_options(name) if name else [])]
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            known = sorted(o for p in self.params if isinstance(p, click.Option) for o in p.opts if o.startswith("--"))
            raise ConfigError(f"unknown option {exc.option_name} for {name}; options: {', '.join(known)}") from None
        except click.UsageError as exc:
            raise ConfigError(exc.format_message()) from None


def spec_from(params: dict):  # noqa: ANN201 - TrainSpec
    """The :class:`~deeprecs.pipeline.TrainSpec` the run's options describe (``params``: the
    command's parsed parameters; model and training options under ``model__``/``train__``)."""
    from deeprecs.pipeline import TrainSpec

    groups = split_options(params)
    data, split_spec, sep = params["data"], params["split_spec"], params["sep"]
    if split_spec is None:
        split_spec = "fixed" if data.startswith("ncf:") else "random:0.2"
    return TrainSpec(model=params["model"], data=data, split=split_spec, seed=params["seed"], task=params["task"], loss=params["loss"],
                     positive=params["positive"], threshold=params["threshold"], rating_map=params["rating_map"],
                     from_path=params["from_path"], columns=parse_columns(params["columns"]),
                     sep="\t" if sep in ("\\t", "tab") else sep, duplicates=params["duplicates"], valid_fraction=params["valid_fraction"],
                     pretrain=[p for p in (params["pretrain"] or "").split(",") if p], model_options=groups.get("model", {}),
                     train_options=groups.get("train", {}), refit=params["refit"], dislikes=params["dislikes"], device=params["device"],
                     memory_budget=params["memory_budget"],
                     user_features=params["user_features"], item_features=params["item_features"],
                     user_feature_columns=params["user_feature_columns"], item_feature_columns=params["item_feature_columns"],
                     features=params["features"])


def echo_metrics(metrics: dict, as_json: bool, out: str) -> None:
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
        return
    from deeprecs.cli.inspect_cmds import format_metrics

    click.echo(format_metrics(metrics))
    click.echo(f"saved run to {out}")


@click.command(cls=ModelCommand)
@click.pass_context
def train(ctx: click.Context, **params) -> None:
    """Train MODEL, evaluate it on the test part, and save the run to --out.

    Model and training options follow as --name value (`deeprecs train MODEL --help`,
    `deeprecs models MODEL`), e.g. `--factors 64 --epochs 20 --lr 0.01`.
    """
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    if params["nproc"] > 1 and "WORLD_SIZE" not in os.environ:
        from deeprecs.launch import launch

        ctx.exit(launch(rank_args(ctx), params["nproc"], params.get("train__threads") or 1))
    from deeprecs import distributed
    from deeprecs.pipeline import train as run_training

    main = int(os.environ.get("RANK", "0")) == 0
    if not main:
        logging.getLogger("deeprecs").setLevel(logging.WARNING)
    ended_well = False
    try:
        _, metrics, _, _, _ = run_training(spec_from(params), out=params["out"], progress=not quiet and main)
        ended_well = True
    finally:
        distributed.teardown(wait=ended_well)
    if main:
        echo_metrics(metrics, params["as_json"], params["out"])


def rank_args(ctx: click.Context) -> list[str]:
    """``deeprecs [-q] [-v] train ...`` as given, less ``--nproc``: what each rank runs."""
    args, out, skip = ctx.meta["deeprecs.args"], [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    top = ctx.parent.params if ctx.parent else {}
    return [*(["-q"] if top.get("quiet") else []), *(["-v"] if top.get("verbose") else []), "train", *out]


class TuneCommand(ModelCommand):
    extra = (click.Option(["--trials"], default=20, show_default=True, type=click.IntRange(min=1), help="Most trials to run."),
             click.Option(["--timeout"], default=None, type=click.FloatRange(min=1), help="Stop starting trials after this many seconds."))


@click.command(cls=TuneCommand)
@click.pass_context
def tune(ctx: click.Context, **params) -> None:
    """Search MODEL's options (Optuna) on the validation part only, then train the best as a run in --out.

    The search space is read off the model's config (`deeprecs models MODEL`); options you give are
    fixed and not searched. The run holds tuning.json (every trial) and trains again with the printed
    `deeprecs train` command; `deeprecs report RUN` plots the trials.
    """
    from deeprecs.tuning import command_line, tune_and_train

    if params["nproc"] > 1:
        raise ConfigError("--nproc is for train: tune runs its trials in one process (train the best with --nproc)")
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    result, metrics = tune_and_train(spec_from(params), params["out"], params["trials"], params["timeout"], progress=not quiet)
    best = result.best
    click.echo(f"{len(result.trials)} trials in {result.seconds:.0f} s; best {result.metric} {best['value']:.4f} (trial {best['number']}): "
               + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in {**best["model_options"], **best["train_options"]}.items()), err=True)
    click.echo(f"train it again: {command_line(result.spec)}", err=True)
    echo_metrics(metrics, params["as_json"], params["out"])


COMMANDS = [train, tune]
