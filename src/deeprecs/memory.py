"""A memory budget, checked before any dense allocation that grows with the catalogue squared.

A closed-form item-item model (EASE, RP3beta) holds a dense ``n_items x n_items`` matrix and, while
it fits, a few more: at 34,000 items EASE needs about 23 GiB, and a process that asks for more
than the machine has is killed by the kernel, with no message. Each such model says what it needs
before it allocates (:meth:`~deeprecs.models.base.Recommender.memory_estimate`); the pipeline
compares it with the budget here and refuses with one line naming ``--memory-budget`` (or, for a
ranking blend, drops the members that do not fit and says so).

The budget is ``--memory-budget GIB`` where given, else the ``DEEPRECS_MEMORY_BUDGET`` environment
variable (GiB), else 90% of the memory available when the check runs (``MemAvailable`` on Linux).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from deeprecs.errors import ConfigError

GIB = 1024**3
#: the share of the available memory a run may plan to use when no budget is given
AVAILABLE_SHARE = 0.9
OPTION = "--memory-budget"


class MemoryBudgetError(ConfigError):
    """A dense allocation would exceed the memory budget."""


def available_bytes() -> int:
    """Memory available to a new allocation now: ``MemAvailable`` (Linux), else physical pages."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62  # unknown: no limit of our own


def gib(nbytes: float) -> str:
    """``nbytes`` for people: GiB, or MiB / KiB where that would round to 0.0 GiB."""
    for unit, size in (("GiB", GIB), ("MiB", 1 << 20)):
        if nbytes >= size / 10:
            return f"{nbytes / size:,.1f} {unit}"
    return f"{nbytes / 1024:,.1f} KiB"


@dataclass(frozen=True)
class Budget:
    """How many bytes a run may plan to allocate, and where that number came from."""

    nbytes: int
    source: str

    @classmethod
    def of(cls, given_gib: float | None = None) -> "Budget":
        """``given_gib`` (``--memory-budget``), else ``$DEEPRECS_MEMORY_BUDGET``, else 90% of available."""
        if given_gib is not None:
            if given_gib <= 0:
                raise ConfigError(f"{OPTION} must be positive (GiB); got {given_gib}")
            return cls(int(given_gib * GIB), f"{OPTION} {given_gib:g}")
        env = os.environ.get("DEEPRECS_MEMORY_BUDGET")
        if env:
            try:
                value = float(env)
            except ValueError:
                raise ConfigError(f"DEEPRECS_MEMORY_BUDGET must be a number of GiB; got {env!r}") from None
            return cls(int(value * GIB), f"DEEPRECS_MEMORY_BUDGET={env}")
        free = available_bytes()
        return cls(int(AVAILABLE_SHARE * free), f"{AVAILABLE_SHARE:.0%} of the {gib(free)} available")

    def fits(self, nbytes: int) -> bool:
        return nbytes <= self.nbytes

    def require(self, nbytes: int, what: str, instead: str = "") -> None:
        """Refuse (one line, naming the option) when ``what`` needs more than the budget."""
        if not self.fits(nbytes):
            hint = f", or {instead}" if instead else ""
            raise MemoryBudgetError(f"{what} needs about {gib(nbytes)}, over the memory budget of {gib(self.nbytes)} ({self.source}); "
                                    f"raise it with {OPTION} GIB if the machine has the memory{hint}")


def square_bytes(n: int, bytes_per_cell: float) -> int:
    """Bytes of ``bytes_per_cell`` per cell of an ``n x n`` matrix."""
    return int(bytes_per_cell * n * n)


__all__ = ["AVAILABLE_SHARE", "Budget", "GIB", "MemoryBudgetError", "OPTION", "available_bytes", "gib", "square_bytes"]
