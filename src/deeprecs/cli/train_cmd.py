"""``deeprecs train MODEL --data ... --out RUN [model and training options]``."""

from __future__ import annotations

import json

import click

from deeprecs.errors import ConfigError


def parse_extra(args: list[str], model: str) -> tuple[dict, dict]:
    """``--name value`` pairs -> (model options, training options), by the configs' field names."""
    from deeprecs.models import get_model_class
    from deeprecs.training import TrainConfig

    model_fields = get_model_class(model).Config.model_fields
    train_fields = TrainConfig.model_fields
    model_opts, train_opts = {}, {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise ConfigError(f"unexpected argument {arg!r}")
        name, _, value = arg[2:].partition("=")
        key = name.replace("-", "_")
        if not value:
            if i + 1 >= len(args):
                raise ConfigError(f"option --{name} needs a value")
            value, i = args[i + 1], i + 1
        i += 1
        if key in ("n_users", "n_items") or (key not in model_fields and key not in train_fields):
            known = sorted(k.replace("_", "-") for k in [*model_fields, *train_fields] if k not in ("n_users", "n_items", "progress", "seed", "loss"))
            raise ConfigError(f"unknown option --{name} for {model}; options: --" + ", --".join(known))
        parsed = _parse_value(value)
        (model_opts if key in model_fields else train_opts)[key] = parsed
    return model_opts, train_opts


def _parse_value(value: str):
    """Numbers, booleans, JSON, and comma lists such as ``64,32,16``."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        pass
    if "," in value:
        return [_parse_value(v) for v in value.split(",")]
    return value


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("model")
@click.option("--data", required=True, help="Dataset name (ml-100k, ...), ncf:PREFIX, or a path.")
@click.option("--split", "split_spec", default=None, show_default="random:0.2 (ncf data: its own split)",
              help="random:F | holdout:K | canonical:u1..u5,ua,ub | loo | temporal:F")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", required=True, type=click.Path(), help="Run directory to write.")
@click.option("--task", type=click.Choice(["rating", "ranking"]), default=None, help="Default: from the data.")
@click.option("--loss", default=None, help="mse (rating); bce, bpr, margin, warp, softmax (ranking; softmax: sampled softmax over the positive and its negatives).")
@click.option("--positive", type=float, default=None, help="Positive-only: keep ratings >= this as positives.")
@click.option("--threshold", type=float, default=None, help="Binarise ratings: >= this -> 1, else 0.")
@click.option("--rating-map", default=None, help="Recode ratings, e.g. 1:-1,2:-1,3:0,4:1,5:1")
@click.option("--from", "from_path", type=click.Path(exists=True), default=None, help="Local archive/folder for the dataset.")
@click.option("--valid-fraction", default=0.05, show_default=True, type=float,
              help="Fraction of train held out for early stopping when the split has no validation part.")
@click.option("--pretrain", default=None, help="neumf: a GMF (or other dot-product: mf, als) run and an MLP run, e.g. runs/gmf,runs/mlp; deep-triplet: a triplet run; blend: trained runs to blend as they are. The runs must share this run's --split, --seed and --positive")
@click.option("--refit/--no-refit", default=None, show_default="on for loo and NCF data, off otherwise",
              help="Once validation has chosen the settings and the epochs, fit again on train + validation.")
@click.option("--dislikes/--no-dislikes", default=True, show_default=True,
              help="With --positive: keep the train ratings below it as known dislikes (ranked last, never recommended).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.pass_context
def train(ctx: click.Context, model: str, data: str, split_spec: str | None, seed: int, out: str, task: str | None,
          loss: str | None, positive: float | None, threshold: float | None, rating_map: str | None,
          from_path: str | None, valid_fraction: float, pretrain: str | None, refit: bool | None, dislikes: bool,
          as_json: bool) -> None:
    """Train MODEL, evaluate it on the test part, and save the run to --out.

    Model and training options follow as --name value (see `deeprecs models MODEL`),
    e.g. `--factors 64 --epochs 20 --lr 0.01`.
    """
    from deeprecs.pipeline import TrainSpec
    from deeprecs.pipeline import train as run_training

    model_opts, train_opts = parse_extra(ctx.args, model)
    if split_spec is None:
        split_spec = "fixed" if data.startswith("ncf:") else "random:0.2"
    spec = TrainSpec(model=model, data=data, split=split_spec, seed=seed, task=task, loss=loss, positive=positive,
                     threshold=threshold, rating_map=rating_map, from_path=from_path, valid_fraction=valid_fraction,
                     pretrain=[p for p in (pretrain or "").split(",") if p], model_options=model_opts, train_options=train_opts,
                     refit=refit, dislikes=dislikes)
    quiet = bool(ctx.obj and ctx.obj.get("quiet"))
    _, metrics, _, _, _ = run_training(spec, out=out, progress=not quiet)
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
    else:
        from deeprecs.cli.inspect_cmds import format_metrics

        click.echo(format_metrics(metrics))
        click.echo(f"saved run to {out}")


COMMANDS = [train]
