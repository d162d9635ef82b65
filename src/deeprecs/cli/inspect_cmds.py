"""Commands over a saved run: evaluate, recommend, similar, embeddings, params."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from deeprecs.devices import DEVICE_HELP

#: ``--device`` of the commands that score
device_option = click.option("--device", default="auto", show_default=True, help=f"Where to score: {DEVICE_HELP}.")


def format_metrics(metrics: dict) -> str:
    """Aligned ``name  value`` lines; floats with 4 decimals."""
    width = max((len(k) for k in metrics), default=0)
    lines = []
    for key, value in metrics.items():
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        lines.append(f"{key:<{width}}  {text}")
    return "\n".join(lines)


def echo_lists(blocks: list[dict], as_json: bool, heading, rows: str, value: str) -> None:  # noqa: ANN001 - heading(block) -> str
    """Ranked lists (:func:`deeprecs.retrieval.ranked`) as JSON (one object when there is one) or as
    aligned lines under each block's ``heading``."""
    if as_json:
        click.echo(json.dumps(blocks if len(blocks) > 1 else blocks[0], indent=2))
        return
    for block in blocks:
        click.echo(heading(block))
        for rec in block[rows]:
            click.echo(f"  {rec['rank']:>3}. {rec['item']!s:>8}  {rec[value]:8.4f}  {rec['title']}")


def _load(run: str, device: str = "cpu"):
    from deeprecs.devices import resolve_device
    from deeprecs.runs import load_run

    return load_run(run, device=resolve_device(device))


@click.command()
@click.argument("run", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print a flat JSON object.")
@device_option
def evaluate(run: str, as_json: bool, device: str) -> None:
    """Re-evaluate RUN on its test part (same protocol as at training)."""
    import numpy as np

    from deeprecs.errors import DeeprecsError
    from deeprecs.pipeline import evaluate as evaluate_model

    r = _load(run, device)
    if r.test is None:
        raise DeeprecsError(f"{run} has no test part to evaluate")
    values = r.config.get("rating_values")
    metrics = evaluate_model(r.model, r.config["task"], r.train, r.test, r.test_negatives,
                             None if values is None else np.asarray(values), r.dislikes)
    for key in ("fit_seconds", "epochs", "n_parameters"):
        if key in r.metrics:
            metrics[key] = r.metrics[key]
    click.echo(json.dumps(metrics, indent=2) if as_json else format_metrics(metrics))


@click.command()
@click.argument("run", type=click.Path())
@click.option("--user", "users", multiple=True, help="Raw user id (repeatable).")
@click.option("--new-user", default=None, metavar="NAME=VALUE,...", help="A user the run has never seen, by the values of its "
              "user feature columns (e.g. age=25,gender=F,occupation=student); models that read features.")
@click.option("--liked", default=None, metavar="ITEM,...", help="With --new-user: raw ids of items they liked (excluded from the list).")
@click.option("-k", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--include-seen", is_flag=True, help="Do not exclude items the user already rated.")
@click.option("--json", "as_json", is_flag=True)
@device_option
def recommend(run: str, users: tuple[str, ...], new_user: str | None, liked: str | None, k: int, include_seen: bool, as_json: bool,
              device: str) -> None:
    """Top-K items for a user, excluding what they already rated (raw ids, with titles); or for a
    new user given by features (--new-user, --liked)."""
    from deeprecs.errors import ConfigError
    from deeprecs.retrieval import ranked_indices, topk

    if bool(users) == bool(new_user):
        raise ConfigError("give --user (one or more) or --new-user")
    r = _load(run, device)
    if new_user:
        from deeprecs.retrieval.newcomers import new_user_lists, parse_values

        liked_idx = [r.item_index(i.strip()) for i in (liked or "").split(",") if i.strip()]
        out = [{"user": "new", "features": parse_values(new_user), "recommendations": new_user_lists(r, parse_values(new_user), liked_idx, k)}]
        echo_lists(out, as_json, lambda block: "new user:", "recommendations", "score")
        return
    idx = [r.user_index(u) for u in users]
    items, scores = topk(r.model, idx, k, exclude=None if include_seen else r.seen)
    titles = r.titles()
    out = [{"user": raw_user, "recommendations": ranked_indices(row_items, row_scores, r.item_map.raw, titles)}
           for raw_user, row_items, row_scores in zip(users, items, scores)]
    echo_lists(out, as_json, lambda block: f"user {block['user']}:", "recommendations", "score")


@click.command()
@click.argument("run", type=click.Path())
@click.option("--item", "items", multiple=True, help="Raw item id (repeatable).")
@click.option("--new-item", default=None, metavar="NAME=VALUE,...", help="An item the run has never seen, by the values of its item "
              "feature columns (e.g. 'genres=Comedy|Drama,year=1999'): its similar items and the users who would score it highest.")
@click.option("-k", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True)
@device_option
def similar(run: str, items: tuple[str, ...], new_item: str | None, k: int, as_json: bool, device: str) -> None:
    """Items most similar to ITEM (cosine similarity of item embeddings), or to a new item given by features."""
    from deeprecs.errors import ConfigError
    from deeprecs.retrieval import ranked_indices, similar_items

    if bool(items) == bool(new_item):
        raise ConfigError("give --item (one or more) or --new-item")
    r = _load(run, device)
    if new_item:
        from deeprecs.retrieval.newcomers import new_item_lists, parse_values

        block = {"item": "new", "features": parse_values(new_item), **new_item_lists(r, parse_values(new_item), k)}
        if as_json:
            click.echo(json.dumps(block, indent=2))
        else:
            echo_lists([block], False, lambda b: "items like the new item:", "similar", "similarity")
            click.echo("users who would score it highest: " + ", ".join(str(u["user"]) for u in block["users"]))
        return
    idx = [r.item_index(i) for i in items]
    found, sims = similar_items(r.model, idx, k)
    titles = r.titles()
    out = [{"item": raw, "title": titles[query], "similar": ranked_indices(row, srow, r.item_map.raw, titles, key="similarity")}
           for raw, query, row, srow in zip(items, idx, found, sims)]
    echo_lists(out, as_json, lambda block: f"items like {block['item']} {block['title']}:", "similar", "similarity")


@click.command()
@click.argument("run", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Parquet (.parquet) or CSV (.csv) file to write.")
@click.option("--which", type=click.Choice(["items", "users"]), default="items", show_default=True)
def embeddings(run: str, out: str, which: str) -> None:
    """Write the learned item (or user) embeddings and print a describe() summary per dimension."""
    import pandas as pd

    from deeprecs.errors import ConfigError

    r = _load(run)
    emb = r.model.item_embeddings() if which == "items" else r.model.user_embeddings()
    if emb is None:
        raise ConfigError(f"model {r.model.name!r} has no {which[:-1]} embeddings")
    ids = r.item_map.raw if which == "items" else r.user_map.raw
    frame = pd.DataFrame(emb.detach().cpu().numpy(), columns=[f"dim_{j}" for j in range(emb.shape[1])])
    frame.insert(0, "id", ids)
    if which == "items" and r.items is not None and "title" in r.items.columns:
        frame.insert(1, "title", [r.title(i) for i in ids])
    _write_atomic(frame, Path(out))
    with pd.option_context("display.width", 160, "display.max_columns", 12, "display.precision", 4):
        click.echo(frame.filter(like="dim_").describe().T.to_string())
    click.echo(f"wrote {len(frame):,} {which} x {emb.shape[1]} dimensions to {out}")


def _write_atomic(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        if path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
def params(runs: tuple[str, ...]) -> None:
    """Parameter count of each run's model, in total and per module."""
    for run in runs:
        r = _load(run)
        click.echo(f"{run}\t{r.config['model']}\t{r.model.n_parameters():,} parameters")
        for name, module in r.model.named_children():
            n = sum(p.numel() for p in module.parameters())
            if n:
                click.echo(f"  {name:<16}{n:>12,}")



COMMANDS = [evaluate, recommend, similar, embeddings, params]
