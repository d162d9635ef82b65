"""``deeprecs report``: one self-contained HTML page comparing runs."""

from __future__ import annotations

import click


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option("--map", "method", type=click.Choice(["pca", "tsne", "umap"]), default="pca", show_default=True,
              help="How item embeddings are put in 2-D (umap needs umap-learn).")
@click.option("--title", default=None, help="Page title (default: the run names).")
def report(runs: tuple[str, ...], out: str, method: str, title: str | None) -> None:
    """Compare RUNS on one HTML page: metrics, curves, embeddings, an item map.

    \b
    deeprecs report runs/mf runs/mlp --out report.html
    deeprecs report runs/mf --map tsne --out mf.html
    """
    from deeprecs.report import build_report

    path = build_report(list(runs), out, method=method, title=title)
    click.echo(str(path))


COMMANDS = [report]
