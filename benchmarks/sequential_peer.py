"""The sequential benchmark's peer row: rectools' SASRec in its own virtual environment, on our split.

rectools 0.19 needs numpy < 2 and pandas < 3 on Python 3.11 (deeprecs pins numpy 2.4), so the peer
runs in ``.venv-seqpeer`` (repository root, git-ignored), built by :func:`peer_python` with ``pip
install --no-deps`` of the exact pins in ``seqpeer/requirements.txt`` (torch ``2.13.0+cpu``: pip can
never pull a CUDA build in its place). Where the venv cannot be built (no network), the row is
skipped with a message and nothing fails.

The split and the metrics are ours, the peer only trains and scores:

1. :func:`write_exchange` writes our ``loo`` split (``common.ranking_split``: the split, validation
   item and 99 negatives our rows get) to a folder: train + validation rows with each row's place in
   our time order (``deeprecs.data.sequences.time_order`` of train then validation, as our models
   read the histories), the validation rows flagged, the test users;
2. ``seqpeer/rectools_sasrec.py`` (in the peer venv) trains with the validation items as rectools'
   validation targets and writes every item's score for each test user from the whole history
   (validation item included, as our rows read it): ``scores.npy``;
3. :func:`peer_metrics` ranks the test items with OUR ``evaluate_sampled`` (sampled HR/NDCG@10 on
   the test item + its 99 negatives, full ranking with train items excluded).

    python benchmarks/sequential.py --peer [--datasets ml-100k,ml-latest-small] [--peer-max-epochs N] [--threads 1]
"""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv-seqpeer"
REQUIREMENTS = HERE / "seqpeer" / "requirements.txt"
SCRIPT = HERE / "seqpeer" / "rectools_sasrec.py"
#: rectools' SASRec defaults (2 blocks, 4 heads, dropout 0.2, softmax loss over all items, lr 1e-3,
#: batch 128) with the sizes of the issue's plain-SASRec anchor: 64 factors, histories of 200
PARAMS = {"n_blocks": 2, "n_heads": 4, "n_factors": 64, "session_max_len": 200, "dropout_rate": 0.2, "loss": "softmax",
          "lr": 1e-3, "batch_size": 128}
#: early stopping on rectools' validation loss (our validation item) with this patience, within a budget
#: per dataset of epochs and of minutes of training (on the shared 2-core machine an epoch took 45-145 s
#: of wall time on ML-100K, 140-230 s on ml-latest-small)
PATIENCE = 5
MAX_EPOCHS = {"ml-100k": 100, "ml-latest-small": 8}
MAX_MINUTES = {"ml-100k": 38.0}


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def peer_python(venv: Path = VENV, requirements: Path = REQUIREMENTS) -> tuple[Path | None, str]:
    """``(python of the peer venv, "")``, building it where missing or out of date; ``(None, why)``
    where it cannot be built. A stamp holds the requirements' hash."""
    python, stamp = venv / "bin" / "python", venv / ".requirements-sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if python.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return python, ""
    log(f"building {venv} from {requirements} (about a minute) ...")
    steps = [[sys.executable, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "-r", str(requirements)]]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"{' '.join(step[:3])}: {exc}"
        if done.returncode:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            return None, f"`{' '.join(step[-4:])}` failed: {tail[0]}"
    stamp.write_text(digest)
    return python, ""


def write_exchange(folder: Path, split, config: dict) -> None:  # noqa: ANN001 - a deeprecs Split
    """Our ``loo`` split as the peer reads it (module docstring, and ``seqpeer/rectools_sasrec.py``)."""
    from deeprecs.data.sequences import time_order
    from deeprecs.pipeline import merge

    seen = merge(split.train, split.valid)  # train then validation rows: the histories our rows read at test time
    position = np.empty(len(seen), dtype=np.int64)
    position[time_order(seen)] = np.arange(len(seen))
    valid = np.arange(len(seen)) >= len(split.train)
    np.savez(folder / "interactions.npz", users=seen.users, items=seen.items, position=position, valid=valid)
    np.save(folder / "test_users.npy", split.test.users.astype(np.int64))
    (folder / "config.json").write_text(json.dumps({"n_items": int(split.train.n_items), **config}))


def peer_metrics(scores: np.ndarray, split) -> dict:  # noqa: ANN001
    """Our leave-one-out metrics of a score matrix (row r: test row r's user, every item's score)."""
    from deeprecs.evaluation.protocols import evaluate_sampled
    from deeprecs.pipeline import evaluation_train

    if scores.shape != (len(split.test), split.train.n_items):
        raise ValueError(f"the peer's scores have shape {scores.shape}, expected ({len(split.test)}, {split.train.n_items})")
    row = np.full(split.train.n_users, -1, dtype=np.int64)
    row[split.test.users] = np.arange(len(split.test))
    table = torch.from_numpy(scores)
    t0 = time.perf_counter()
    out = evaluate_sampled(lambda users: table[row[users.numpy()]], evaluation_train(split), split.test, split.test_negatives, ks=(10,))
    out["eval_seconds"] = time.perf_counter() - t0
    return out


def run_peer(data: str, threads: int = 1, max_epochs: int | None = None, patience: int = PATIENCE, max_minutes: float | None = None,
             timeout: float = 5400) -> dict:
    """The peer's row on ``data`` (``--split loo``, seed 0), or ``{"skipped": why}`` / ``{"error": ...}``;
    ``max_minutes``: a wall-time budget of its training (the row says so)."""
    sys.path.insert(0, str(HERE))
    from common import ranking_split

    python, why = peer_python()
    if python is None:
        return {"skipped": f"no peer venv: {why}"}
    split = ranking_split(data, "loo", None, seed=0)
    max_epochs = max_epochs or MAX_EPOCHS.get(data, 20)
    max_minutes = MAX_MINUTES.get(data) if max_minutes is None else max_minutes
    config = {"threads": threads, "seed": 0, "max_epochs": max_epochs, "max_minutes": max_minutes, "patience": patience, "params": PARAMS}
    with tempfile.TemporaryDirectory(prefix="seqpeer-") as tmp:
        folder = Path(tmp)
        write_exchange(folder, split, config)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
        try:
            done = subprocess.run([str(python), str(SCRIPT), str(folder)], capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            return {"error": (done.stderr.strip().splitlines() or ["exit " + str(done.returncode)])[-1], "stderr": done.stderr[-4000:]}
        peer = json.loads((folder / "result.json").read_text())
        metrics = peer_metrics(np.load(folder / "scores.npy"), split)
    keys = ("hr@10", "ndcg@10", "full_hr@10", "full_ndcg@10", "n_test_rows", "quirk_test_item_unseen_in_train")
    return {**{k: metrics[k] for k in keys}, "eval_seconds": round(metrics["eval_seconds"], 2),
            "fit_seconds": round(peer["fit_seconds"], 1), "fit_cpu_seconds": round(peer["fit_cpu_seconds"], 1),
            "cpu_seconds": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
            "process_seconds": round(wall, 1), "score_seconds": round(peer["score_seconds"], 2), "epochs": peer["epochs"],
            "best_epoch": peer["best_epoch"], "best_val_loss": round(peer["best_val_loss"], 5), "max_epochs": max_epochs,
            "max_minutes": max_minutes, "patience": patience, "items_known": peer["items_known"], "n_items": int(split.train.n_items),
            "seconds_per_epoch": round(sum(e.get("seconds", 0) for e in peer["history"]) / max(len(peer["history"]), 1), 2),
            "threads": threads, "params": PARAMS, "versions": peer["versions"], "history": peer["history"]}


# ----------------------------------------------------------------------------- results and their Markdown
PEER_RESULTS = HERE / "results" / "sequential-peer.json"
PEER_NOTE = ("Peer: rectools' SASRec (`SASRecModel`, the versions in `benchmarks/seqpeer/requirements.txt`, in its own venv "
             "`.venv-seqpeer` built by `python benchmarks/sequential.py --peer`) on the identical split: our train and validation "
             "rows in our time order, trained with our validation item as rectools' validation target, early stopping on its "
             f"validation loss (patience {PATIENCE}) within the budget the row states (epochs or minutes of training: the "
             "machine was shared, an epoch took 45-230 s of wall time), the best epoch's weights kept; "
             "every item scored from each test user's whole history (validation item included, as our rows read it) and ranked "
             "by our own metric code (`sequential_peer.py`). Settings: rectools' defaults (2 blocks, 4 heads, dropout 0.2, "
             "softmax loss over all items, lr 0.001, batch 128) with the anchor's sizes (64 factors, histories of 200). "
             "Items it never saw in training score lowest (a tie counts against it). valid column: its best validation loss. "
             "RecBole 1.2.1 resolves beside torch 2.13 (`pip install --dry-run`) but was not run: its sequential datasets train "
             "on every prefix of every history, about 100 times the sequences of an epoch here. The issue's plain-SASRec "
             "anchors (GPU, same protocol) are shown too. No peer GRU4Rec: rectools has none.")


def run_peer_rows(datasets: list[str], threads: int, max_epochs: int | None = None, max_minutes: float | None = None) -> None:
    """The peer's row on each dataset, merged into ``sequential-peer.json`` as each finishes; a
    skipped row (no venv) only logs why."""
    for data in datasets:
        log(f"[{data}] rectools sasrec (peer) ...")
        row = run_peer(data, threads, max_epochs, max_minutes=max_minutes)
        if "skipped" in row:
            log(f"   skipped: {row['skipped']}")
            return
        if "error" in row:
            log(f"   FAILED: {row['error']}")
            continue
        log(f"   HR@10 {row['hr@10']:.4f}  NDCG@10 {row['ndcg@10']:.4f}  full HR@10 {row['full_hr@10']:.4f}  "
            f"fit {row['fit_seconds']:.1f} s  epochs {row['epochs']} (best {row['best_epoch']})")
        results = json.loads(PEER_RESULTS.read_text()) if PEER_RESULTS.is_file() else {"datasets": {}}
        results["datasets"].setdefault(data, {})["rectools-sasrec"] = {**row, "date": time.strftime("%Y-%m-%d %H:%M:%S")}
        PEER_RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {PEER_RESULTS.relative_to(ROOT)}")


def peer_rows(data: str, path: Path = PEER_RESULTS) -> list[str]:
    """The Markdown rows of the peer's results on ``data`` (the sequential table's columns)."""
    if not path.is_file():
        return []
    rows = json.loads(path.read_text()).get("datasets", {}).get(data, {})
    out = []
    for name, r in rows.items():
        budget = [f"at most {r['max_epochs']} epochs"] * (r["epochs"] >= r["max_epochs"])
        minutes = r.get("max_minutes")
        if minutes is not None and r["fit_seconds"] >= 0.95 * 60 * minutes:  # the wall-time budget ended the training
            budget.append(f"{minutes:g} min of training")
        budget = f", budget: {', '.join(budget)}" if budget else ""
        out.append(f"| {name} {r['versions']['rectools']} (peer{budget}) | {r['hr@10']:.4f} | {r['ndcg@10']:.4f} | "
                   f"{r['full_hr@10']:.4f} | {r['full_ndcg@10']:.4f} | {r['fit_seconds']:,.1f} | {r['cpu_seconds']:,.1f} | "
                   f"{r['seconds_per_epoch']:,.1f} | {r['epochs']} ({r['best_epoch']}) | val loss {r['best_val_loss']:.4f} | {r['threads']} |")
    return out
