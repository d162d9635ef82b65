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
    from deeprecs.cli.train_cmd import model_options
    from deeprecs.models import MODELS, get_model_class

    if model is None:
        for name, cls in MODELS.items():
            click.echo(f"{name}\t{','.join(cls.tasks)}\t{cls.summary}")
        return
    cls = get_model_class(model)
    click.echo(f"{model}: {cls.summary}\ntasks: {', '.join(cls.tasks)}; default loss: "
               + ", ".join(f"{t}={cls.default_loss.get(t, '')}" for t in cls.tasks) + (" (fixed)" if cls.fixed_loss else ""))
    if cls.pretrain_takes:
        click.echo(f"--pretrain: {cls.pretrain_takes}")
    from deeprecs.models.base import Setting

    for task in cls.tasks:
        defaults = cls.defaults(Setting(task))
        chosen = {**defaults.model, **defaults.train}
        if chosen:
            click.echo(f"defaults for the {task} task (override any): " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in chosen.items()))
    click.echo("options (deeprecs train MODEL --name value; model options first, then the training loop's):")
    for option in model_options(model):
        click.echo(f"  {option.opts[0]:<22} {option.type.get_metavar(option):<14} {option.help or ''}")


COMMANDS = [datasets, fetch, models]
