"""PostgreSQL tests never skip silently: a run that skips them says so in one loud line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_a_skipped_postgres_test_prints_a_loud_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DEEPRECS_TEST_PG_URL", "DEEPRECS_TEST_PG_START", "CI")}
    test = f"{HERE / 'test_store.py'}::test_export_matches_live_topk[postgres]"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "PostgreSQL tests SKIPPED (1): DEEPRECS_TEST_PG_URL is unset" in done.stdout, done.stdout
