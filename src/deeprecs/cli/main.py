"""``deeprecs`` command line: a thin layer over the library (one module per command group)."""

from __future__ import annotations

import logging
import os
import sys

import click

from deeprecs import __version__
from deeprecs.errors import DeeprecsError


class Group(click.Group):
    """Turns every :class:`DeeprecsError` into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DeeprecsError as exc:
            click.echo(f"error: {exc}", err=True)
            if "WORLD_SIZE" in os.environ:  # a rank of a distributed run: its line, for the launcher
                from deeprecs.launch import report_error

                report_error(f"error: {exc}")
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deeprecs")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors; no progress bars.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, quiet: bool) -> None:
    """deeprecs: deep-learning recommenders from interaction logs.

    \b
    deeprecs datasets                      the datasets it knows
    deeprecs models                        the models, their tasks and options
    deeprecs fetch ml-100k                 download (checksummed) into the cache
    deeprecs train biased-mf --data ml-100k --split random:0.2 --out runs/mf
    deeprecs evaluate runs/mf --json
    deeprecs recommend runs/mf --user 196 -k 10
    deeprecs similar runs/mf --item 50 -k 10
    """
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    ctx.obj = {"quiet": quiet}


def _register() -> None:
    from deeprecs.cli import data_cmds, inspect_cmds, train_cmd

    for module in (data_cmds, train_cmd, inspect_cmds):
        for command in module.COMMANDS:
            cli.add_command(command)
    for name in ("deeprecs.cli.serve_cmds", "deeprecs.cli.report_cmds"):
        try:
            module = __import__(name, fromlist=["COMMANDS"])
        except ImportError:
            continue
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="deeprecs")


if __name__ == "__main__":
    main()
