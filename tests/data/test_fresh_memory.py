"""The memory contexts of loading and splitting change nothing but where memory comes from."""

import numpy as np
import pyarrow as pa
import pytest

from deeprecs.data.fresh_memory import c_allocator, small_pages


def test_c_allocator_restores_the_pool_even_on_error():
    before = pa.default_memory_pool().backend_name
    with pytest.raises(RuntimeError), c_allocator():
        assert pa.default_memory_pool().backend_name == "system"
        kept = pa.array(np.arange(10))  # a buffer that outlives the context
        raise RuntimeError("boom")
    assert pa.default_memory_pool().backend_name == before
    assert kept.to_pylist() == list(range(10))


def test_small_pages_restores_numpys_setting_even_on_error():
    multiarray = pytest.importorskip("numpy._core.multiarray")
    before = multiarray._set_madvise_hugepage(True)
    try:
        with pytest.raises(RuntimeError), small_pages():
            assert multiarray._set_madvise_hugepage(False) is False  # off inside (reading it sets it)
            raise RuntimeError("boom")
        assert multiarray._set_madvise_hugepage(True) is True  # back on after
    finally:
        multiarray._set_madvise_hugepage(before)
