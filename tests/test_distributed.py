"""Distributed training on 2 CPU processes (gloo): parameters equal on every rank after a step,
the planted taste learned as by one process, a rank killed mid-run ends it in one line with no run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from deeprecs.distributed import shard
from deeprecs.launch import failure

SRC = Path(__file__).resolve().parents[1] / "src"
ENV = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}


def test_shards_cover_the_epoch_in_equal_parts():
    perm = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    parts = [shard(perm, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 4]
    assert set(torch.cat(parts).tolist()) == set(range(11))  # one row twice, as padding
    assert torch.equal(shard(perm, 0, 1), perm)


def test_failure_line_names_the_rank(tmp_path):
    log = "Root Cause (first observed failure):\n[0]:\n  time : x\n  host : y\n  rank      : 1 (local_rank: 1)\n  exitcode  : -9 (pid: 7)\n"
    assert failure(tmp_path, log, 1) == "distributed training failed: rank 1 ended with exit code -9 (killed by a signal); no run was written"
    (tmp_path / "rank-1.err").write_text("error: unknown item\n")
    assert failure(tmp_path, log, 1) == "unknown item"


def test_parameters_are_equal_on_every_rank_after_a_step(tmp_path):
    out = tmp_path / "result.json"
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                    str(Path(__file__).with_name("dist_step.py")), str(out)], env=ENV, check=True, capture_output=True, timeout=120)
    result = json.loads(out.read_text())
    assert result["world"] == 2
    # dense gradients, sparse ones all-reduced as such, and local SGD (--sync-every 2, 3) after its exchanges
    for run in ("adam/1", "sparse-adam/1", "sparse-adam/2", "adam/3"):
        assert result[run]["max_diff"] == 0.0 and result[run]["moved"] > 0, result
    # every rank's change applied on every rank: both (1 + 3) -> 4; one (2) -> 2 whole; none -> 0
    assert result["exchange"] == [[4.0, 4.0], [0.0, 0.0], [2.0, 2.0], [0.0, 0.0]]


def _train(args, tmp_path):
    return subprocess.run([sys.executable, "-m", "deeprecs", "-q", "train", *map(str, args)], env={**ENV, "DEEPRECS_HOME": str(tmp_path / "home")},
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("how", [[], ["--optimizer", "sparse-adam", "--sync-every", "4"]], ids=["ddp", "local-sgd"])
def test_two_processes_learn_the_planted_taste(tmp_path, write_ml, how):
    data = write_ml(tmp_path / "ml", n_users=200, n_items=60, per_user=20)
    two = _train(["bpr-mf", "--data", data, "--positive", "4", "--epochs", "10", "--threads", "1", "--json", "--out", tmp_path / "two",
                  "--nproc", "2", *how], tmp_path)
    assert two.returncode == 0, two.stderr
    # one process, the same command: AUC 0.808 (a random scorer: 0.5)
    assert json.loads(two.stdout)["auc"] > 0.78 and (tmp_path / "two" / "model.pt").exists()
    assert "Warning" not in two.stderr and "error" not in two.stderr


def _rank_pid(parent: int, rank: str) -> int | None:
    """The pid of the descendant of ``parent`` whose environment says ``RANK=rank``."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    todo = [parent]
    while todo:
        pid = todo.pop()
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            env = []
        if f"RANK={rank}".encode() in env and pid != parent:
            return pid
        todo += children.get(pid, [])
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_rank_killed_mid_run_ends_it_with_one_line_and_no_run(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "deeprecs", "train", "biased-mf", "--data", "synthetic:20000", "--out", out,
                             "--epochs", "500", "--patience", "0", "--threads", "1", "--nproc", "2"],
                            env={**ENV, "DEEPRECS_HOME": str(tmp_path / "home")}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # rank 0's progress: training has started on both
            if line.startswith("epoch   2"):
                break
        pid = _rank_pid(proc.pid, "1")
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        rest = proc.stderr.read()
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    errors = [line for line in rest.splitlines() if line.startswith("error: ")]
    assert code == 1 and errors == ["error: distributed training failed: rank 1 ended with exit code -9 (killed by a signal); no run was written"], rest
    assert "Traceback" not in rest and not out.exists() and not list(tmp_path.glob(".run.tmp-*"))


def test_failure_line_prefers_the_killed_rank_over_its_peers(tmp_path):
    log = ("Failures:\n[1]:\n  rank      : 0 (local_rank: 0)\n  exitcode  : 1 (pid: 8)\n----\nRoot Cause (first observed failure):\n"
           "[0]:\n  rank      : 1 (local_rank: 1)\n  exitcode  : -9 (pid: 7)\n")
    assert "rank 1 ended with exit code -9" in failure(tmp_path, log, 1)
    assert "rank 1 ended with exit code 2;" in failure(tmp_path, log.replace("-9", "2"), 1)  # no signal: the root cause
