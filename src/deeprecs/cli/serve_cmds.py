"""Commands for serving a run: export (precompute top-K into a database), serve (HTTP), clusters."""

from __future__ import annotations

import os

import click

from deeprecs.cli.inspect_cmds import device_option

DEFAULT_DB = "sqlite:///recs.db"


@click.command()
@click.argument("run", type=click.Path(), required=False)
@click.option("--db", default=DEFAULT_DB, show_default=True,
              help="SQLAlchemy URL: sqlite:///FILE or postgresql://USER@HOST:PORT/DB.")
@click.option("-k", default=100, show_default=True, type=click.IntRange(1, 1000), help="Items kept per user.")
@click.option("--keep", type=click.IntRange(min=1), default=None, help="Afterwards keep only the N newest versions.")
@click.option("--prune", "prune_only", is_flag=True, help="Only prune old versions (to --keep, default 2); no RUN.")
@click.option("--batch-size", default=2048, show_default=True, type=click.IntRange(min=1), help="Users scored at once.")
@click.option("--new-items", default=None, type=click.Path(exists=True, dir_okay=False), metavar="PATH",
              help="CSV/TSV of items the run has never seen (first column: id; the run's item feature columns; optional "
                   "title): ranked among the run's items for every user by their features, without retraining.")
@device_option
@click.pass_context
def export(ctx: click.Context, run: str | None, db: str, k: int, keep: int | None, prune_only: bool, batch_size: int,
           new_items: str | None, device: str) -> None:
    """Precompute every user's top-K unseen items of RUN into a database, as a new version
    that becomes current in one step when complete (with --new-items, new items given by features
    compete for the lists: a model that reads item features)."""
    from deeprecs.errors import ConfigError
    from deeprecs.store import export_run, list_versions, make_engine, prune

    if prune_only:
        dropped = prune(db, keep or 2)
        click.echo(f"pruned {len(dropped)} version(s): {', '.join(map(str, dropped)) or '-'}")
        versions, current = list_versions(make_engine(db))
        for v in versions:
            click.echo(f"  v{v.version:<5} {v.status:<9} {v.run_id}  k={v.k}  rows={v.n_rows:,}" + ("  (current)" if v.version == current else ""))
        return
    if run is None:
        raise ConfigError("give a RUN to export (or --prune)")
    from time import perf_counter

    from deeprecs.devices import resolve_device
    from deeprecs.runs import load_run

    r = load_run(run, device=resolve_device(device))
    newcomers = None
    if new_items:  # read and checked before anything is written
        from deeprecs.retrieval.newcomers import read_new_items

        newcomers = read_new_items(r, new_items)
    start = perf_counter()
    info = export_run(r, db, k=k, batch_size=batch_size, keep=keep, progress=not (ctx.obj or {}).get("quiet"), new_items=newcomers)
    click.echo(f"export version {info.version}: {info.n_rows:,} rows (top-{info.k} for {info.n_users:,} users) "
               f"of {info.run_id}{f' with {len(newcomers)} new item(s)' if newcomers else ''} in {perf_counter() - start:.2f} s; now current")


@click.command()
@click.argument("run", type=click.Path())
@click.option("--db", default=None, help="Recommendation store to serve from (else everything is live).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--ann", is_flag=True, help="Live scoring through an HNSW index (approximate) instead of exact.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@device_option
def serve(run: str, db: str | None, host: str, port: int, ann: bool, workers: int, log_level: str, device: str) -> None:
    """Serve RUN over HTTP (FastAPI; OpenAPI at /docs). Set DEEPRECS_API_KEY to require
    'Authorization: Bearer <key>' on every route but /health."""
    import uvicorn

    from deeprecs.devices import resolve_device
    from deeprecs.errors import ConfigError
    from deeprecs.runs import load_run
    from deeprecs.store import normalize_url
    from deeprecs.store.schema import sqlite_path

    where = resolve_device(device)
    load_run(run, device=where)  # fail here, with a clear message, rather than in every worker
    if db and sqlite_path(db) and not os.path.isfile(sqlite_path(db)):  # a typo, or no export yet
        raise ConfigError(f"no database file {sqlite_path(db)} (--db {db}): export to it first "
                          f"(deeprecs export {run} --db {db}), or leave out --db to serve live")
    os.environ["DEEPRECS_SERVE_RUN"] = str(run)
    os.environ["DEEPRECS_SERVE_DB"] = normalize_url(db) if db else ""
    os.environ["DEEPRECS_SERVE_ANN"] = "1" if ann else "0"
    os.environ["DEEPRECS_SERVE_DEVICE"] = str(where)
    click.echo(f"serving {run} on http://{host}:{port} ({workers} worker(s), {'store ' + db if db else 'live only'}"
               f"{', ANN' if ann else ''})", err=True)
    uvicorn.run("deeprecs.service.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False)


@click.command()
@click.argument("run", type=click.Path())
@click.option("-n", "n_clusters", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--users", is_flag=True, help="Cluster users instead of items.")
@click.option("--top", default=5, show_default=True, type=click.IntRange(min=1), help="Titles shown per cluster.")
@click.option("--seed", default=0, show_default=True)
def clusters(run: str, n_clusters: int, users: bool, top: int, seed: int) -> None:
    """k-means on RUN's item (or user) vectors; prints each cluster's most popular titles."""
    from deeprecs.clustering import cluster_run
    from deeprecs.runs import load_run

    r = load_run(run)
    kind = "users" if users else "items"
    for c in cluster_run(r, n_clusters, users=users, top=top, seed=seed):
        click.echo(f"cluster {c.label:>3}  ({len(c.members):,} {kind})")
        for item, count in zip(c.top_items.tolist(), c.top_counts.tolist()):
            raw = r.item_map.raw[item]
            click.echo(f"    {count:>6,}  {raw!s:>8}  {r.title(raw)}")


COMMANDS = [export, serve, clusters]
