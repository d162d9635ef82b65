"""The export / clusters commands, and `deeprecs serve` as a real server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
from click.testing import CliRunner

from deeprecs.cli.main import cli


def test_export_prune_and_clusters_commands(run_path, sqlite_url):
    runner = CliRunner()
    for _ in range(3):
        r = runner.invoke(cli, ["-q", "export", str(run_path), "--db", sqlite_url, "-k", "5"])
        assert r.exit_code == 0, r.output
    assert "now current" in r.output
    r = runner.invoke(cli, ["export", "--prune", "--keep", "1", "--db", sqlite_url])
    assert r.exit_code == 0 and "pruned 2 version(s)" in r.output and "(current)" in r.output
    assert runner.invoke(cli, ["export", "--db", sqlite_url]).exit_code == 1
    r = runner.invoke(cli, ["clusters", str(run_path), "-n", "2", "--top", "2"])
    assert r.exit_code == 0 and r.output.count("cluster") == 2 and "Item " in r.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_answers_http(run_path, sqlite_url):
    assert CliRunner().invoke(cli, ["-q", "export", str(run_path), "--db", sqlite_url, "-k", "5"]).exit_code == 0
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "deeprecs.cli.main", "serve", str(run_path), "--db", sqlite_url,
                             "--port", str(port)], env={**os.environ, "DEEPRECS_API_KEY": ""},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        body = httpx.get(f"http://127.0.0.1:{port}/users/u2/recommendations?k=3").json()
        assert body["source"] == "store" and len(body["recommendations"]) == 3
        assert httpx.get(f"http://127.0.0.1:{port}/users/u2/recommendations?k=6").json()["source"] == "live"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_refuses_a_missing_sqlite_file(run_path, tmp_path):
    r = CliRunner().invoke(cli, ["serve", str(run_path), "--db", f"sqlite:///{tmp_path / 'typo.db'}"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert r.output.count("\n") == 1 and "no database file" in r.output and "deeprecs export" in r.output
    assert not (tmp_path / "typo.db").exists()
