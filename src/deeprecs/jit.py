"""Compiled kernels (numba), imported only when one is first used.

numba costs 0.3 s to import and each kernel a moment to load from its on-disk cache (seconds to
compile the first time, cached beside the source), so nothing imports it until a kernel runs: the
CLI, and code that never reaches a kernel, start as fast as before. Without numba installed
:func:`available` is false and the callers take their numpy/torch paths.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any, Callable


@cache
def available() -> bool:
    """Whether numba can be imported."""
    return importlib.util.find_spec("numba") is not None


#: arrays from this many rows on take the compiled kernels that have a numpy twin: below it numpy
#: costs less than importing numba and loading a kernel (about 0.5 s)
COMPILED_FROM = 2**23


def worth(n: int) -> bool:
    """Whether a kernel with a numpy twin should run on ``n`` rows (numba there, ``n`` large)."""
    return n >= COMPILED_FROM and available()


@cache
def compiled(fn: Callable, fastmath: bool = False) -> Any:  # noqa: ANN401 - a numba dispatcher
    """``fn`` compiled in nopython mode, releasing the GIL, cached on disk (once per process)."""
    import numba

    return numba.njit(cache=True, nogil=True, fastmath=fastmath)(fn)


@cache
def prefetch() -> Any:  # noqa: ANN401 - a numba intrinsic
    """A compiled kernel's ``prefetch(arr, row, col)``: ask for the cache line of the 2-d array's
    ``arr[row, col]`` ahead of use (LLVM's prefetch: a read, kept in every cache level)."""
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def _prefetch(typingctx, arr, row, col):  # noqa: ANN001, ANN202, ARG001
        def codegen(context, builder, sig, args):  # noqa: ANN001, ANN202
            ary = context.make_array(sig.args[0])(context, builder, args[0])
            ptr = builder.bitcast(cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1], args[2]]), ir.IntType(8).as_pointer())
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ptr.type] + [ir.IntType(32)] * 3), "llvm.prefetch.p0")
            builder.call(fn, [ptr] + [ir.Constant(ir.IntType(32), v) for v in (0, 3, 1)])
            return context.get_dummy_value()
        return types.void(arr, row, col), codegen

    return _prefetch
