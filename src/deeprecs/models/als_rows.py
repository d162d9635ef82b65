"""ALS's conjugate-gradient solve fused per row, compiled with numba (CPU tensors).

:func:`deeprecs.models.als.solve_cg` solves every row's system at once with sparse products: each
product streams over all the observed cells and gathers the fixed side's rows at random, so once
the factor tables outgrow the caches (ML-32M: 200,948 x 64 and 87,585 x 64 floats) every CG step
pays a cache miss per cell. Here each row runs its whole CG on its own cells: the rows of ``y`` it
needs are gathered once and stay in the L1/L2 cache for the remaining steps, and nothing of size
``nnz`` is written (implicit's ALS does the same); the first pass over a row's cells asks for the
rows ``AHEAD`` cells on before it needs them (the gathers are random: no hardware prefetcher
guesses them). The arithmetic is the batched solve's, step for step (the tests compare the two).
On the synthetic 10^6 -> 3.2 x 10^7 logs (benchmarks/scale.py) a sweep costs 145 -> 210-240 ns a
pair here, 220 -> 900 (at 10^7) with the batched products.

Rows are split over ``torch.get_num_threads()`` Python threads (the compiled kernel releases the
GIL; numba's own thread pools are left alone: its OpenMP layer keeps spinning after a parallel
loop and slowed torch's next products 4x here). Without numba, or for tensors on another device,
:func:`available` is false and the batched torch solve runs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from deeprecs import jit

#: cells ahead whose row of ``y`` is prefetched (the gathers are random: no hardware prefetcher guesses them)
AHEAD = 8


def available(x: torch.Tensor) -> bool:
    """Whether the fused solve can update ``x``: numba is installed and ``x`` is a float32 CPU
    tensor (the models' factors; one compiled variant, float64 takes the batched solve)."""
    return jit.available() and x.device.type == "cpu" and x.dtype == torch.float32


def solve_rows(x: torch.Tensor, y: torch.Tensor, gram: torch.Tensor, conf: torch.Tensor, target: torch.Tensor, steps: int) -> None:
    """Update ``x`` in place: ``steps`` CG steps on each row's system (:func:`deeprecs.models.als.solve_cg`
    explains the system; ``gram`` is ``y^T y + l2 I``), one row after another."""
    out = x.detach().numpy()  # shares x's memory: the kernel writes the rows in place
    args = (out, np.ascontiguousarray(y.detach().numpy()), np.ascontiguousarray(gram.detach().numpy()),
            conf.crow_indices().numpy(), conf.col_indices().numpy(), conf.values().numpy().astype(out.dtype, copy=False),
            target.values().numpy().astype(out.dtype, copy=False), steps, out.dtype.type(0))
    kernel, indptr = _kernel(), args[3]
    threads = min(torch.get_num_threads(), len(indptr) - 1)
    if threads <= 1:
        kernel(*args, 0, len(indptr) - 1)
        return
    # row ranges of about equal numbers of cells, one per thread (the kernel releases the GIL)
    bounds = np.searchsorted(indptr, np.linspace(0, indptr[-1], threads + 1)[1:-1])
    bounds = np.r_[0, bounds, len(indptr) - 1]
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda lo_hi: kernel(*args, *lo_hi), zip(bounds[:-1], bounds[1:])))


_prefetch = None  # jit.prefetch(), set before the kernel is compiled (it is a global of the kernel)


def _kernel():  # noqa: ANN202 - a numba dispatcher
    """The compiled kernel (compiled, or read from numba's cache, on first use)."""
    global _prefetch
    _prefetch = jit.prefetch()
    return jit.compiled(_cg_rows, fastmath=True)


def _cg_rows(x, y, gram, indptr, indices, conf, target, steps, zero, lo, hi):  # noqa: ANN001, ANN202 - compiled by numba
    d = x.shape[1]
    for u in range(lo, hi):
        start, end = indptr[u], indptr[u + 1]
        xu = x[u]
        r = np.empty(d, dtype=x.dtype)
        p = np.empty(d, dtype=x.dtype)
        ap = np.empty(d, dtype=x.dtype)
        # r = b - A x: b = sum target_c y_c; A x = gram x + sum conf_c (y_c . x) y_c
        for a in range(d):
            s = zero
            for b in range(d):
                s += gram[a, b] * xu[b]
            r[a] = -s
        line = 64 // y.itemsize
        for k in range(start, end):
            if k + AHEAD < end:
                for a in range(0, d, line):
                    _prefetch(y, indices[k + AHEAD], a)
            yc = y[indices[k]]
            dot = zero
            for a in range(d):
                dot += yc[a] * xu[a]
            coef = target[k] - conf[k] * dot
            for a in range(d):
                r[a] += coef * yc[a]
        rs = zero
        for a in range(d):
            p[a] = r[a]
            rs += r[a] * r[a]
        for _ in range(steps):
            for a in range(d):
                s = zero
                for b in range(d):
                    s += gram[a, b] * p[b]
                ap[a] = s
            for k in range(start, end):
                yc = y[indices[k]]
                dot = zero
                for a in range(d):
                    dot += yc[a] * p[a]
                coef = conf[k] * dot
                for a in range(d):
                    ap[a] += coef * yc[a]
            pap = zero
            for a in range(d):
                pap += p[a] * ap[a]
            step = rs / pap if pap > 0 else zero
            rs_new = zero
            for a in range(d):
                xu[a] += step * p[a]
                r[a] -= step * ap[a]
                rs_new += r[a] * r[a]
            beta = rs_new / rs if rs > 0 else zero
            for a in range(d):
                p[a] = r[a] + beta * p[a]
            rs = rs_new
