"""Fixtures of the report and benchmark-tooling tests: benchmark scripts imported as modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str):
    """``benchmarks/NAME.py`` as module ``bench_NAME`` (its own ``common`` import resolved)."""
    if f"bench_{name}" in sys.modules:
        return sys.modules[f"bench_{name}"]
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench():
    """``bench(name)``: ``benchmarks/NAME.py`` as a module."""
    return load
