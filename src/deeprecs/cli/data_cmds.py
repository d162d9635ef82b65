"""``deeprecs datasets``, ``deeprecs fetch``, ``deeprecs models``."""

from __future__ import annotations

import click


@click.command()
def datasets() -> None:
    """List the datasets deeprecs can fetch by name."""
    from deeprecs.data.registry import describe

    for name, text in describe():
        click.echo(f"{name}\t{text}")
    click.echo("ncf:PREFIX\tthe NCF benchmark files PREFIX.train.rating/.test.rating/.test.negative")
    click.echo("PATH\ta MovieLens folder, or your own CSV/TSV/Parquet log (columns user,item[,rating,timestamp])")


@click.command()
@click.argument("name")
@click.option("--from", "from_path", type=click.Path(exists=True),
              help="A local archive (.zip) or extracted folder, imported (copied, checked) into the cache.")
def fetch(name: str, from_path: str | None) -> None:
    """Download a dataset (checksummed) into the cache, or import it from --from PATH; prints
    the cached folder. Later loads by NAME (train --data NAME) read the cache, offline."""
    from deeprecs.data import fetch as fetch_dataset

    folder = fetch_dataset(name, from_path=from_path)
    click.echo(str(folder))


@click.command()
@click.argument("model", required=False)
def models(model: str | None) -> None:
    """List models (name, tasks, summary); with MODEL, its options and defaults."""
    from deeprecs.models import MODELS, PRESETS, get_model_class

    if model is None:
        for name, cls in MODELS.items():
            click.echo(f"{name}\t{','.join(cls.tasks)}\t{cls.summary}")
        for name, preset in PRESETS.items():
            click.echo(f"{name}\tranking\t{preset.summary}")
        return
    cls = get_model_class(model)
    preset = PRESETS.get(model)
    tasks = ("ranking",) if preset else cls.tasks
    losses = {"ranking": preset.loss} if preset else cls.default_loss
    click.echo(f"{model}: {preset.summary if preset else cls.summary}\ntasks: {', '.join(tasks)}; default loss: "
               + ", ".join(f"{t}={loss}" for t, loss in losses.items()))
    for task in tasks:
        chosen = {**cls.model_defaults.get(task, {}), **(preset.model_options if preset else {})}
        train_chosen = {**cls.train_defaults.get(task, {}), **(preset.train_options if preset else {})}
        if chosen or train_chosen:
            click.echo(f"defaults for the {task} task (override any): "
                       + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in {**chosen, **train_chosen}.items()))
    click.echo("model options (deeprecs train MODEL --name value):")
    for name, fld in cls.Config.model_fields.items():
        if name in ("n_users", "n_items"):
            continue
        click.echo(f"  --{name.replace('_', '-'):<16} default {fld.default!r:<12} {fld.description or ''}")
    from deeprecs.training import TrainConfig

    click.echo("training options:")
    for name, fld in TrainConfig.model_fields.items():
        if name in ("seed", "progress", "loss"):
            continue
        click.echo(f"  --{name.replace('_', '-'):<16} default {fld.default!r:<12} {fld.description or ''}")


COMMANDS = [datasets, fetch, models]
