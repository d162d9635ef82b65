"""benchmarks/sequential_peer.py: the files the peer reads, and its scores ranked by our metrics (no peer venv)."""

from __future__ import annotations

import json

import numpy as np

from deeprecs.data import IdMap, Interactions
from deeprecs.data.sequences import user_histories
from deeprecs.data.splits import make_split
from deeprecs.pipeline import merge


def _split():
    """4 users x 6 rows over 12 items, timestamps with ties; ``loo`` with 3 negatives."""
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(4), 6)
    items = np.concatenate([rng.choice(12, 6, replace=False) for _ in range(4)])
    stamps = np.tile([5, 1, 3, 3, 9, 7], 4)  # rows 2 and 3 of each user tie
    inter = Interactions(users, items, IdMap(np.arange(4)), IdMap(np.arange(12)), timestamps=stamps)
    return make_split(inter, "loo", seed=0, n_negatives=3)


def test_exchange_holds_our_histories_in_our_order_and_flags_validation(bench, tmp_path):
    peer = bench("sequential_peer")
    split = _split()
    peer.write_exchange(tmp_path, split, {"threads": 1, "params": {}})
    got = np.load(tmp_path / "interactions.npz")
    seen = merge(split.train, split.valid)
    # the peer's order (by position) gives each user the history our models read at test time
    order = np.argsort(got["position"], kind="stable")
    histories = {u: list(got["items"][order][got["users"][order] == u]) for u in range(4)}
    ours = user_histories(seen, 10)
    assert all(histories[u] == [i for i in ours[u] if i >= 0] for u in range(4))
    assert sorted(got["position"]) == list(range(len(seen)))  # unique: the peer matches rows by it
    flagged = set(zip(got["users"][got["valid"]], got["items"][got["valid"]]))
    assert flagged == set(zip(split.valid.users, split.valid.items)) and len(flagged) == 4
    assert list(np.load(tmp_path / "test_users.npy")) == list(split.test.users)
    assert json.loads((tmp_path / "config.json").read_text())["n_items"] == 12


def test_peer_scores_ranked_by_our_metrics(bench):
    peer = bench("sequential_peer")
    split = _split()
    n = len(split.test)
    scores = np.zeros((n, 12), dtype=np.float32)
    rows = np.arange(n)
    # row 0: test item first; row 1: one negative above it; rows 2, 3: an unknown test item (-inf) ties with unknown negatives
    scores[rows, split.test.items] = 5.0
    scores[1, split.test_negatives[1, 0]] = 6.0
    scores[2:, :] = -np.inf
    out = peer.peer_metrics(scores, split)
    assert out["hr@10"] == 1.0  # 4 candidates: every rank < 10
    expected = (1 + 1 / np.log2(3) + 2 / np.log2(2 + 3)) / 4  # ranks 0, 1, 3, 3 (ties count against)
    assert np.isclose(out["ndcg@10"], expected)
    assert out["n_test_rows"] == n


def test_peer_rows_read_the_results_file(bench, tmp_path):
    peer = bench("sequential_peer")
    row = {"hr@10": 0.7, "ndcg@10": 0.4, "full_hr@10": 0.1, "full_ndcg@10": 0.05, "fit_seconds": 100.0, "cpu_seconds": 90.0,
           "seconds_per_epoch": 5.0, "epochs": 20, "best_epoch": 18, "max_epochs": 20, "best_val_loss": 6.5, "threads": 1,
           "versions": {"rectools": "0.19.0"}}
    path = tmp_path / "peer.json"
    path.write_text(json.dumps({"datasets": {"ml-100k": {"rectools-sasrec": row}}}))
    (line,) = peer.peer_rows("ml-100k", path)
    assert line.startswith("| rectools-sasrec 0.19.0 (peer, budget: at most 20 epochs) | 0.7000 | 0.4000 |")
    timed = {**row, "epochs": 12, "max_minutes": 1.5}  # stopped by the wall-time budget (90 s of training)
    path.write_text(json.dumps({"datasets": {"ml-100k": {"rectools-sasrec": timed}}}))
    assert "(peer, budget: 1.5 min of training) |" in peer.peer_rows("ml-100k", path)[0]
    assert peer.peer_rows("ml-latest-small", path) == [] and peer.peer_rows("ml-100k", tmp_path / "none.json") == []


def test_no_venv_means_a_skipped_row_with_a_reason(bench, tmp_path, monkeypatch):
    peer = bench("sequential_peer")
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("torch==2.13.0+cpu\n")
    calls = []

    def offline(cmd, **kwargs):  # the venv is made, pip finds nothing (no network)
        calls.append(cmd)
        fails = "pip" in cmd
        return peer.subprocess.CompletedProcess(cmd, int(fails), "", "ERROR: No matching distribution found for torch==2.13.0+cpu" * fails)

    monkeypatch.setattr(peer.subprocess, "run", offline)
    python, why = peer.peer_python(tmp_path / "venv", reqs)
    assert python is None and why.endswith("failed: ERROR: No matching distribution found for torch==2.13.0+cpu")
    assert len(calls) == 2 and "--no-deps" in calls[1] and not (tmp_path / "venv" / ".requirements-sha256").exists()
    monkeypatch.setattr(peer, "peer_python", lambda: (None, why))  # the row: skipped, before any data is loaded
    assert peer.run_peer("no-such-data") == {"skipped": f"no peer venv: {why}"}
