"""Where the large one-pass arrays of loading and splitting get their memory.

On a machine whose transparent huge pages are given on request (``madvise``, Linux's default),
with the kernel compacting memory to find them (``defrag`` ``madvise``, its default too), a
request for huge pages can cost more in the kernel than the pages save: numpy asks for them on
every array of 4 MiB or more, and Arrow's default pool (mimalloc) takes fresh pages from the
kernel in its own way. Measured on the 2-core machine of ``benchmarks/scale.py`` at 3.2 x 10^7
rows (processor time a row, medians of two runs, the 10^6-row costs unchanged): the ``random:0.2``
split 120 ns with numpy's huge pages against 64 without (2.4 of the 2.5 s in the kernel), the
Parquet read and conversion 310 ns with Arrow's default pool against 150 with the C allocator.
These contexts choose the cheaper way for the duration of a stage; arrays made inside live on
after it as any other (each buffer remembers who allocated it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa


@contextmanager
def c_allocator() -> Iterator[None]:
    """Arrow's new buffers from the C allocator (``malloc``) while it lasts."""
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(before)


@contextmanager
def small_pages() -> Iterator[None]:
    """numpy's new arrays on ordinary pages while it lasts (no ``MADV_HUGEPAGE``; what the
    ``NUMPY_MADVISE_HUGEPAGE=0`` environment variable does for a whole process)."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # another numpy: leave its pages alone
        yield
        return
    before = _set_madvise_hugepage(False)
    try:
        yield
    finally:
        _set_madvise_hugepage(before)


__all__ = ["c_allocator", "small_pages"]
