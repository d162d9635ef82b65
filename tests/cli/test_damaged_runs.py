"""A run whose weights or arrays are truncated, altered or swapped: evaluate, recommend, export
and serve each print one ``error:`` line naming the file, never a traceback, and write nothing."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from deeprecs.run_files import CHECKSUMS
from deeprecs.runs import load_run


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def alter(path):  # 16 bytes flipped in the middle: the size stays, the zip may still open
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 16] = bytes(b ^ 0xFF for b in data[mid : mid + 16])
    path.write_bytes(bytes(data))


def garbage(path):
    path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))


def other_shapes(path):  # the weights of a model with one more row in every table
    state = torch.load(path, weights_only=True)
    torch.save({k: torch.zeros((v.shape[0] + 1, *v.shape[1:])) if v.dim() else v for k, v in state.items()}, path)


def out_of_range(path):
    with np.load(path) as z:
        arrays = dict(z)
    arrays["items"] = arrays["items"] + 10_000
    np.savez_compressed(path, **arrays)


# (file, damage, keep checksums.json): with the list the digest refuses any change; without it
# (runs saved before it existed) reading the file must still fail cleanly
DAMAGES = [("model.pt", truncate, True), ("model.pt", alter, True), ("train.npz", truncate, True), ("test.npz", alter, True),
           ("model.pt", truncate, False), ("model.pt", garbage, False), ("model.pt", other_shapes, False),
           ("train.npz", truncate, False), ("train.npz", garbage, False), ("train.npz", out_of_range, False)]
COMMANDS = {"evaluate": (), "recommend": ("--user", "1"), "export": ("--db", "sqlite:///{tmp}/recs.db"),
            "serve": ("--db", "sqlite:///{tmp}/recs.db", "--port", "1")}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("name, damage, checksums", DAMAGES,
                         ids=[f"{n}-{d.__name__}-{'listed' if c else 'unlisted'}" for n, d, c in DAMAGES])
def test_damaged_run_is_one_line_error(cli, trained_run, tmp_path, command, name, damage, checksums):
    run = shutil.copytree(trained_run[0], tmp_path / "run")
    if not checksums:
        (run / CHECKSUMS).unlink()
    damage(run / name)
    args = [a.format(tmp=tmp_path) for a in COMMANDS[command]]
    line = cli.error(command, run, *args, contains=(str(run / name), "damaged", "train the run again"))
    assert ("SHA-256" in line) == checksums
    assert not (tmp_path / "recs.db").exists()


def test_an_intact_run_passes_its_checksums(trained_run):
    assert (trained_run[0] / CHECKSUMS).is_file()
    assert load_run(trained_run[0]).model is not None


def test_damaged_json_is_one_line_error(cli, trained_run, tmp_path):
    run = shutil.copytree(trained_run[0], tmp_path / "run")
    truncate(run / "idmaps.json")
    cli.error("recommend", run, "--user", "1", contains=("idmaps.json", "damaged"))
