"""The tail of ``np.random.default_rng(seed).permutation(n)`` without shuffling all of it.

``random:F`` (PROTOCOLS.md) puts the last ``k = round(F n)`` rows of that permutation in test.
numpy shuffles ``arange(n)`` by Fisher-Yates from the end: step ``i = n-1, ..., 1`` swaps position
``i`` with a uniform ``j <= i``, so the last ``k`` positions are final after the first ``k`` steps.
Here only those steps run (numba-compiled), on numpy's own random stream: the same rows, the same
order, in ``k`` random accesses instead of ``n`` (at 3.2 x 10^7 rows the full shuffle's swaps
across a 256 MB array miss the caches and cost more per row than at 10^6).

numpy's steps (``Generator.shuffle`` -> ``_shuffle_raw``): ``j =
random_bounded_uint64(0, i)``, which for ``i < 2^32`` is Lemire's method on 32-bit draws, and a
PCG64 32-bit draw is the low, then the high half of one 64-bit output (``random_raw``). Without
numba, or for ``n >= 2^32``, numpy's permutation itself is taken.
"""

from __future__ import annotations

import numpy as np

from deeprecs import jit


def permutation_tail(seed: int, n: int, k: int, compiled: bool | None = None) -> np.ndarray:
    """``np.random.default_rng(seed).permutation(n)[n - k:]``, the same values in the same order;
    numpy's permutation itself below :data:`deeprecs.jit.COMPILED_FROM` rows unless ``compiled``
    (there it costs less than loading the compiled kernel: 0.03 s for 10^6 rows)."""
    k = max(0, min(int(k), n))
    if not (jit.worth(n) if compiled is None else compiled and jit.available()) or n >= 2**32 or k == 0:
        return np.random.default_rng(seed).permutation(n)[n - k:]
    bits = np.random.default_rng(seed).bit_generator
    if type(bits).__name__ != "PCG64":  # pragma: no cover - default_rng's generator
        return np.random.default_rng(seed).permutation(n)[n - k:]
    data = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    step, stop = n - 1, max(n - 1 - k, 0)
    while step > stop:  # numpy's stream in cache-sized chunks: 2^16 32-bit draws
        step = _kernel()(data, step, stop, bits.random_raw(1 << 15).view(np.uint32))
    return data[n - k:].astype(np.int64)


def _kernel():  # noqa: ANN202 - a numba dispatcher
    return jit.compiled(_tail)


def _tail(data, step, stop, draws):  # noqa: ANN001, ANN202 - compiled by numba
    """numpy's Fisher-Yates steps ``step, step - 1, ..., stop + 1`` on ``data`` in place, while
    ``draws`` last; the step to take next (``stop`` when done). A step cut short by the end of
    ``draws`` starts again on the next draws: its rejected draws are simply used up, as in numpy."""
    used = 0
    i = step
    while i > stop:
        mask = np.uint32(i)  # the smallest all-ones bit mask >= i
        mask |= mask >> np.uint32(1)
        mask |= mask >> np.uint32(2)
        mask |= mask >> np.uint32(4)
        mask |= mask >> np.uint32(8)
        mask |= mask >> np.uint32(16)
        while True:  # a masked draw, redrawn while above i
            if used >= len(draws):
                return i
            j = np.int64(draws[used] & mask)
            used += 1
            if j <= i:
                break
        t = data[j]
        data[j] = data[i]
        data[i] = t
        i -= 1
    return i
