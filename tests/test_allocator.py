"""The training loop's allocator setting: inside, a large block comes from the heap and is kept
for the next one (no fresh mmap); outside, glibc maps it as before. Only where glibc runs."""

from __future__ import annotations

import ctypes

import pytest
import torch

from deeprecs.allocator import glibc, reuse_freed_memory


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def mapped_bytes() -> int:
    """Bytes glibc holds in mmap-ed blocks now (``mallinfo2().hblkhd``)."""
    libc = glibc()
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2().hblkhd


needs_glibc = pytest.mark.skipif(glibc() is None or not hasattr(glibc(), "mallinfo2"), reason="glibc >= 2.33 only")


@needs_glibc
def test_large_blocks_come_from_the_heap_inside_and_are_mapped_again_after():
    size = 80 * 1024**2 // 4  # 80 MB: over glibc's largest mmap threshold (32 MB)
    with reuse_freed_memory() as active:
        assert active
        before = mapped_bytes()
        block = torch.ones(size)
        assert mapped_bytes() == before  # from the heap, no mmap
        del block
    before = mapped_bytes()
    block = torch.ones(size)
    assert mapped_bytes() >= before + size * 4  # mapped again outside
    del block


def test_off_or_elsewhere_it_does_nothing():
    with reuse_freed_memory(enabled=False) as active:
        assert active is False
