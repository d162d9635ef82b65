"""Reuse freed memory while a model trains on the CPU (glibc's malloc).

A training step on the CPU allocates and frees the same large tensors every step (a sequential
model's full softmax: ``(B W, n_items)`` scores, their log-softmax and gradient, ~43 MB each on
ML-100K). glibc serves a block over its mmap threshold (at most 32 MB) with a fresh ``mmap`` and
unmaps it on free, so every step pays the kernel to map and zero those pages again (page faults:
a SASRec epoch on ML-100K took 3.0-3.9 s, 2.2-2.8 s with the blocks kept, peak memory +1-7%).
:func:`reuse_freed_memory` turns ``mmap`` off and lets up to ``keep`` bytes of freed memory stay
with the process while the loop runs (PyTorch's CPU performance guide suggests jemalloc or
tcmalloc for the same reason; this needs nothing installed), and puts glibc's mmap back and
returns what it can to the system (``malloc_trim``) afterwards. Elsewhere (macOS, musl, Windows)
it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
#: glibc's defaults, put back after the loop
DEFAULT_MMAP_MAX, DEFAULT_TRIM_THRESHOLD = 65536, 128 * 1024
#: free memory at the top of the heap kept for the next step (above it, returned to the system)
KEEP = 256 * 1024**2


@cache
def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (``mallopt`` and ``malloc_trim`` found), else ``None``."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@contextmanager
def reuse_freed_memory(enabled: bool = True, keep: int = KEEP) -> Iterator[bool]:
    """While inside: no ``mmap`` for large blocks, up to ``keep`` free bytes kept; yields whether
    it took effect (glibc and ``enabled``)."""
    libc = glibc() if enabled else None
    if libc is None:
        yield False
        return
    libc.mallopt(M_MMAP_MAX, 0)
    libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(min(keep, 2**31 - 1)))
    try:
        yield True
    finally:
        libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
        libc.malloc_trim(0)


__all__ = ["glibc", "reuse_freed_memory"]
