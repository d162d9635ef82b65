"""Sequential benchmark (issue 25): SASRec and GRU4Rec against ALS and NeuMF under leave-latest-one-out.

ML-100K and ml-latest-small, ``--split loo`` (test = each user's latest item, validation = the
second latest, 99 negatives sampled with seed 0; PROTOCOLS.md), sampled and full-ranking HR/NDCG@10
side by side. Every row runs with the model's **default** options (chosen on the validation part,
never on test), early stopping on validation NDCG@10, then the model's refit default (loo: ALS and
NeuMF refit on train + validation with the chosen epochs; SASRec trains its validation fit 3 more
epochs on train + validation, a warm refit; GRU4Rec keeps its validation fit and reads the
validation item as the latest of each history); each row in its own process, on
the identical split. A row records its fit's wall seconds and the CPU seconds of its whole process
(loading, split, fit, evaluation).

    python benchmarks/sequential.py [--threads 1] [--quick] [--models sasrec,gru4rec,als] [--datasets ml-100k,ml-latest-small] [--merge] [--render]

The ML-100K SASRec timing alone (the issue's <= 120 s on 2 cores), updating that row only:

    python benchmarks/sequential.py --models sasrec --datasets ml-100k --threads 2 --merge

The peer, rectools' SASRec in its own venv on the identical split, scored with our metrics
(``sequential_peer.py``; skipped with a message where its venv cannot be built), into its own file
``benchmarks/results/sequential-peer.json`` (``--peer-max-epochs``, ``--peer-max-minutes``: other budgets):

    python benchmarks/sequential.py --peer [--datasets ml-100k,ml-latest-small]

Writes ``benchmarks/results/sequential.json`` and ``sequential.md`` (``sequential-quick.*`` with
``--quick``); the Markdown shows the peer's rows from ``sequential-peer.json`` in each dataset's table.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, fmt, log, machine, run_isolated  # noqa: E402
from sequential_peer import PEER_NOTE, peer_rows, run_peer_rows  # noqa: E402

#: rows: (name, model); als is the reference there (our best closed-form model on loo)
MODELS = [("sasrec", "sasrec"), ("gru4rec", "gru4rec"), ("als", "als"), ("neumf", "neumf")]
#: rows taken from the NCF benchmark's results where this run has none (same split, seed and defaults)
REFERENCE = ("neumf", "als")
#: rows run by default (neumf: from the NCF benchmark on ML-100K, ``--models`` to run it here)
DEFAULT_ROWS = "sasrec,gru4rec,als"
DATASETS = ["ml-100k", "ml-latest-small"]
#: the issue's anchors: a plain SASRec (2 blocks, 64 d, length 200, GPU) measured on the same protocol
ANCHORS = {"ml-100k": (0.7147, 0.4419), "ml-latest-small": (0.7295, 0.5064)}
#: quick mode: a smoke test of the rows (ML-100K, 1 epoch, short histories, the latest only, no refit)
QUICK = {"train": {"epochs": 1, "refit_epochs": 0}, "model": {m: {"max_len": 50, "every_item": False} for m in ("sasrec", "gru4rec")}}


def run_row(model: str, data: str, threads: int, train_options: dict, model_options: dict, refit: bool | None = None) -> dict:
    """One row, in a fresh process (``run_isolated``); ``refit`` None: the model's default."""
    from deeprecs.pipeline import TrainSpec, train

    spec = TrainSpec(model=model, data=data, split="loo", seed=0, model_options=model_options, refit=refit,
                     train_options={"threads": threads, **train_options})
    before = resource.getrusage(resource.RUSAGE_SELF)
    _, metrics, history, _, _ = train(spec, progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF)
    out = {k: metrics.get(k) for k in ("hr@10", "ndcg@10", "full_hr@10", "full_ndcg@10", "eval_seconds", "fit_seconds", "refit_seconds")}
    for key, digits in (("fit_seconds", 1), ("refit_seconds", 1), ("eval_seconds", 2)):
        out[key] = None if out[key] is None else round(out[key], digits)
    # CPU seconds of the whole run in this process (loading, split, fit, evaluation): a bound on the fit's
    out["cpu_seconds"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1)
    out["refit"] = metrics.get("refit")
    out.update(epochs=len(history.epochs), best_epoch=history.best_epoch, valid_ndcg10=history.best_valid,
               seconds_per_epoch=round(sum(e["seconds"] for e in history.epochs) / max(len(history.epochs), 1), 2))
    return out


def secs(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def reference(data: str, rows: dict) -> dict:
    """The NCF benchmark's rows of ``data`` (same ``loo`` split and seed) for models this run did
    not train itself: NeuMF and ALS on ML-100K."""
    path = RESULTS / "ncf.json"
    if not path.is_file():
        return {}
    theirs = json.loads(path.read_text()).get("datasets", {}).get(data, {})
    return {name: theirs[name] for name in REFERENCE if name in theirs and name not in rows}


def targets(results: dict) -> list[tuple[str, str, str, str]]:
    out = []
    ml100k, small = (results["datasets"].get(d, {}) for d in DATASETS)

    def check(what: str, row: dict | None, target: str, ok) -> None:  # noqa: ANN001
        if row and "error" not in row:
            cpu = f", {row['cpu_seconds']:.0f} CPU s in the whole run" if row.get("cpu_seconds") is not None else ""
            out.append((what, f"{row['hr@10']:.4f} / {row['ndcg@10']:.4f} (fit {row['fit_seconds']:.0f} s{cpu}, {row['threads']} thread(s), "
                              f"{row['epochs']} epochs{', refit' if row.get('refit') else ''})",
                        target, "yes" if ok(row) else "**no**"))

    check("ml-100k loo: sasrec", ml100k.get("sasrec"), "HR@10 >= 0.72, NDCG@10 >= 0.45", lambda r: r["hr@10"] >= 0.72 and r["ndcg@10"] >= 0.45)
    check("ml-100k loo: sasrec CPU fit", ml100k.get("sasrec"), "<= 120 s on 2 cores",
          lambda r: r["threads"] == 2 and r["fit_seconds"] <= 120)
    check("ml-latest-small loo: sasrec", small.get("sasrec"), "HR@10 >= 0.78", lambda r: r["hr@10"] >= 0.78)
    return out


def markdown(results: dict) -> str:
    lines = ["# Sequential benchmark (leave-latest-one-out: 1 test item + 99 negatives; full ranking beside)", "",
             f"{results['machine']['cpu'] if 'cpu' in results['machine'] else ''}; threads: each row's. "
             "Default options of every model (chosen on validation), early stopping on validation NDCG@10, then the model's "
             "refit default: ALS and NeuMF refit on train + validation with the chosen epochs, SASRec trains its validation fit "
             "3 more epochs on train + validation (a warm refit: fit s includes it), GRU4Rec keeps its validation fit and reads "
             "the validation item as the latest of each history (a row marked *budget* deviates, as it says). Timings were taken on a shared machine (2 cores, several other sessions' jobs running): fit seconds are "
             "wall seconds up to several times an idle machine's; CPU s: the CPU seconds of the row's whole process (loading, "
             "split, fit, evaluation). s/epoch: mean seconds of a validating epoch. The ML-100K SASRec timing alone: "
             "`python benchmarks/sequential.py --models sasrec --datasets ml-100k --threads 2 --merge`.", ""]
    if results.get("quick"):
        lines += ["Quick mode: 1 epoch, histories of 50, each user's latest only, no refit (a smoke test; the numbers mean nothing).", ""]
    for data, rows in results["datasets"].items():
        lines += [f"## {data} (`--split loo`, 99 negatives sampled with seed 0)", "",
                  "| model | HR@10 | NDCG@10 | full HR@10 | full NDCG@10 | fit s (refit) | CPU s | s/epoch | epochs (best) | valid NDCG@10 | threads |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        order = [n for n, _ in MODELS]
        for name, r in sorted(rows.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
            if "error" in r:
                lines.append(f"| {name} | failed: {r['error']} | | | | | | | | | |")
                continue
            label = f"{name} (budget: {r['budget']})" if r.get("budget") else name
            lines.append(f"| {label} | {r['hr@10']:.4f} | {r['ndcg@10']:.4f} | {r['full_hr@10']:.4f} | {r['full_ndcg@10']:.4f} | "
                         f"{secs(r['fit_seconds'])} ({secs(r.get('refit_seconds'))}) | {secs(r.get('cpu_seconds'))} | {secs(r['seconds_per_epoch']) if r['epochs'] else '–'} | {r['epochs']} ({r['best_epoch']}) | "
                         f"{fmt(r['valid_ndcg10'])} | {r['threads']} |")
        for name, r in reference(data, rows).items():
            lines.append(f"| {name} (`benchmarks/results/ncf.md`, same split) | {r['hr@10']:.4f} | {r['ndcg@10']:.4f} | {r['full_hr@10']:.4f} | "
                         f"{r['full_ndcg@10']:.4f} | {secs(r['fit_seconds'])} | | | {r['epochs']} ({r['best_epoch']}) | {fmt(r.get('valid_ndcg10'))} | {r.get('threads', '-')} |")
        lines += [] if results.get("quick") else peer_rows(data)
        hr, ndcg = ANCHORS[data]
        lines.append(f"| plain SASRec (issue's anchor, GPU) | {hr:.4f} | {ndcg:.4f} | | | | | | | | |")
        lines.append("")
    lines += ([] if results.get("quick") else [PEER_NOTE, ""]) + ["## Targets (issue 25)", "", "| what | measured (HR@10 / NDCG@10) | target | met |", "|---|---|---|---|"]
    lines += [f"| {w} | {v} | {t} | {m} |" for w, v, t, m in targets(results)] + [""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="ml-100k only, sasrec and gru4rec, 1 epoch, histories of 50")
    ap.add_argument("--models", default=DEFAULT_ROWS, help=f"comma list of rows: {', '.join(n for n, _ in MODELS)}")
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--merge", action="store_true", help="update the rows of an existing results file instead of replacing it")
    ap.add_argument("--render", action="store_true", help="only rewrite the Markdown from the JSON results")
    ap.add_argument("--max-epochs", type=int, default=None, help="a time budget: at most this many epochs (the rows say so)")
    ap.add_argument("--no-refit", action="store_true", help="a time budget: no refit (the validation items are read into "
                    "the histories instead; the rows say so)")
    ap.add_argument("--peer", action="store_true", help="run only the peer rows (rectools' SASRec in .venv-seqpeer, built "
                    "where missing) into sequential-peer.json, then rewrite sequential.md")
    ap.add_argument("--peer-max-epochs", type=int, default=None, help="the peer's epoch budget (default: per dataset, "
                    "sequential_peer.MAX_EPOCHS)")
    ap.add_argument("--peer-max-minutes", type=float, default=None, help="a wall-time budget of the peer's training "
                    "(Lightning's max_time; the row says so; default: per dataset, sequential_peer.MAX_MINUTES)")
    args = ap.parse_args()
    stem = "sequential-quick" if args.quick else "sequential"
    path = RESULTS / f"{stem}.json"
    if args.peer:
        run_peer_rows(args.datasets.split(","), args.threads, args.peer_max_epochs, args.peer_max_minutes)
        args.render = path.is_file()
    if args.render:
        (RESULTS / f"{stem}.md").write_text(markdown(json.loads(path.read_text())))
        return
    results = json.loads(path.read_text()) if args.merge and path.is_file() else {"datasets": {}}
    results.update(threads=args.threads, quick=args.quick, machine=machine())
    names = ["ml-100k"] if args.quick else args.datasets.split(",")
    wanted = ["sasrec", "gru4rec"] if args.quick else args.models.split(",")
    failed = []
    for data in names:
        rows = dict(results["datasets"].get(data, {}))
        for name, model in MODELS:
            if name not in wanted:
                continue
            log(f"[{data}] {name} ...")
            train_options = dict(QUICK["train"]) if args.quick else {}
            if args.max_epochs is not None:
                train_options["epochs"] = args.max_epochs
            model_options = QUICK["model"].get(name, {}) if args.quick else {}
            row = run_isolated(run_row, model, data, args.threads, train_options, model_options, False if args.no_refit else None,
                               threads=args.threads, timeout=3600)
            budget = [f"at most {args.max_epochs} epochs"] * (args.max_epochs is not None) + ["no refit"] * args.no_refit
            if budget and "error" not in row:
                row["budget"] = ", ".join(budget)
            rows[name] = row
            if "error" in row:
                failed.append(f"{data}/{name}")
                log(f"   FAILED: {row['error']}")
            else:
                log(f"   HR@10 {row['hr@10']:.4f}  NDCG@10 {row['ndcg@10']:.4f}  full HR@10 {row['full_hr@10']:.4f}  "
                    f"fit {row['fit_seconds']:.1f} s  epochs {row['epochs']} (best {row['best_epoch']})")
            if args.merge and path.is_file():  # another chunk (dataset or rows) may have written meanwhile
                results["datasets"] = json.loads(path.read_text()).get("datasets", {})
                rows = {**results["datasets"].get(data, {}), name: row}
            results["datasets"][data] = rows
            RESULTS.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=2, default=str) + "\n")
            (RESULTS / f"{stem}.md").write_text(markdown(results))
    print(f"wrote {path} and {stem}.md")
    if failed:
        raise SystemExit(f"failed rows: {', '.join(failed)}")


if __name__ == "__main__":
    main()
