"""CLI helpers: invoke ``deeprecs`` in-process and check clean failures."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from deeprecs.cli.main import cli as deeprecs_cli

FAST = ("--threads", "1", "--batch-size", "64")


class Cli:
    fast = FAST

    @staticmethod
    def __call__(*args) -> Result:
        return CliRunner().invoke(deeprecs_cli, [str(a) for a in args])

    def ok(self, *args) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def error(self, *args, contains: tuple[str, ...] = ()) -> str:
        """Exit status != 0, exactly one ``error: ...`` line on stderr, no traceback; returns the line."""
        result = self(*args)
        assert result.exit_code != 0, result.stdout
        assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert "Traceback" not in result.output
        for fragment in contains:
            assert fragment in lines[0], lines[0]
        return lines[0]


@pytest.fixture(scope="session")
def cli() -> Cli:
    """``cli(*args) -> Result``; ``cli.ok(*args)``; ``cli.error(*args, contains=(...))``."""
    return Cli()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, write_ml, cli):
    """A biased-mf run on the tiny MovieLens folder, trained once per module: ``(run, data, result)``."""
    root = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPRECS_HOME", str(root / "home"))
        folder = write_ml(root / "ml-tiny")
        result = cli.ok("-q", "train", "biased-mf", "--data", folder, "--out", root / "run",
                        "--epochs", "3", "--factors", "4", *FAST)
    return root / "run", folder, result
