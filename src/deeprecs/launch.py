"""``deeprecs train ... --nproc N``: the same command on N processes through ``torch.distributed.run``
(training itself: :mod:`deeprecs.distributed`). Imports no torch: the launcher only waits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

#: where a rank started by :func:`launch` writes its one-line error (the launcher prints it)
ERRORS_ENV = "DEEPRECS_DIST_ERRORS"

#: torchrun's own lines: from the first failure report on, all of it (the launcher says it in one line)
_FAILURE = re.compile(r"^(\[rank\d+\]:\s*)?(\[?E\d{4} |Traceback|={5,}|\S*Error)")
#: its notices (threads, ports) and c10's warnings, one line each
_NOTICE = re.compile(r"^(\[rank\d+\]:)?\[?[WI]\d{4} |^\*{5,}|^Setting OMP_NUM_THREADS")


def launch(args: list[str], nproc: int, threads: int = 1) -> int:
    """Run ``deeprecs ARGS`` on ``nproc`` processes through ``torch.distributed.run``; rank 0's
    output passes through. A failed rank ends the run with one ``error: ...`` line (its own, or
    which rank died and how) and exit status 1; the run directory is written by rank 0 at the
    end only, so none is left half-written. Returns the exit status."""
    with tempfile.TemporaryDirectory(prefix="deeprecs-dist-") as tmp:
        env = {**os.environ, ERRORS_ENV: tmp, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(threads)),
               "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "--monitor-interval=0.2",
               "-m", "deeprecs", *args]
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, bufsize=1)
        noise: list[str] = []
        quiet = False
        for line in proc.stderr:
            quiet = quiet or bool(_FAILURE.match(line))
            if quiet or line.startswith("error: ") or _NOTICE.match(line):
                noise.append(line)
            else:
                sys.stderr.write(line)
        code = proc.wait()
        if code == 0:
            return 0
        sys.stderr.write(f"error: {failure(Path(tmp), ''.join(noise), code)}\n")
        return 1


def failure(folder: Path, log: str, code: int) -> str:
    """The one line that says why a distributed run failed: the first rank's own error, else the
    rank that died and its exit code (a signal: killed)."""
    for path in sorted(folder.glob("rank-*.err")):
        text = path.read_text().strip()
        if text:
            return text.removeprefix("error: ")
    # torchrun's summary: each failed rank and its exit code; a rank killed by a signal is the
    # cause (its peers fail after it, on a closed connection), else the root cause (listed last)
    found = [(int(r), int(c)) for r, c in re.findall(r"rank\s*:\s*(\d+)[^\n]*\n\s*exitcode\s*:\s*(-?\d+)", log)]
    if not found:
        return f"distributed training failed (status {code}); no run was written"
    rank, exit_code = min(found, key=lambda rc: (rc[1] >= 0, -found.index(rc)))
    how = f"exit code {exit_code}" + (" (killed by a signal)" if exit_code < 0 else "")
    return f"distributed training failed: rank {rank} ended with {how}; no run was written"


def report_error(message: str) -> None:
    """A rank's one-line error, where :func:`launch` will find it (nothing outside a launch)."""
    folder = os.environ.get(ERRORS_ENV)
    if folder and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        Path(folder, f"rank-{os.environ.get('RANK', '0')}.err").write_text(message + "\n")


__all__ = ["ERRORS_ENV", "failure", "launch", "report_error"]
