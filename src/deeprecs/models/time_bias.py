"""Time-aware attention: a learned bias on the attention between two history items, by the time between them.

The time between items ``i`` and ``j`` of a history, ``dt = |t_i - t_j|`` (the data's timestamp
unit, seconds for MovieLens), falls in bucket ``floor(2 log2(1 + dt))`` (half-octaves: 0 for the
same second, 13 for about a minute and a half, 32 for a day, 49 for a year), at most ``n - 1``;
each bucket has a learned scalar per block and head, added to the attention logits (an additive
mask, so PyTorch's fused attention kernels still run). A scalar bias in place of TiSASRec's (Li,
Wang & McAuley 2020) interval embeddings added to keys and values: those need a ``(B, L, L, d)``
tensor per block; this one ``(B, L, L)`` buckets, computed once for all blocks. Items read within
minutes of each other (a session) learn to attend to each other more, items months apart less.
"""

from __future__ import annotations

import torch
from torch import nn


def time_buckets(times: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, L, L)`` int64 bucket of the time between every two items of each row of ``times (B, L)``."""
    dt = (times.unsqueeze(2) - times.unsqueeze(1)).abs_().to(torch.float32)  # exact to 2^24, then far under a half-octave off
    return dt.add_(1).log2_().mul_(2).floor_().clamp_(max=n - 1).to(torch.long)  # log2 of a power of 2 is exact


class _Gather(torch.autograd.Function):
    """``table (H, n)`` at ``buckets (B, L, L)`` -> ``(B, H, L, L)``; the backward sums the
    gradient per bucket with ``bincount`` (cheaper than indexing's scatter for n small)."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, buckets: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(buckets)
        ctx.n = table.shape[1]
        return table[:, buckets].transpose(0, 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: ANN001, ANN205
        (buckets,) = ctx.saved_tensors
        flat = buckets.reshape(-1)
        rows = [torch.bincount(flat, weights=grad[:, h].reshape(-1), minlength=ctx.n) for h in range(grad.shape[1])]
        return torch.stack(rows).to(grad.dtype), None


class TimeBias(nn.Module):
    """A learned bias per block, head and time bucket (see the module docstring); zero at start,
    so a fresh model attends as the plain one."""

    def __init__(self, blocks: int, heads: int, n: int) -> None:
        super().__init__()
        self.n = n
        self.table = nn.Parameter(torch.zeros(blocks, heads, n))

    def buckets(self, times: torch.Tensor) -> torch.Tensor:
        return time_buckets(times, self.n)

    def forward(self, block: int, buckets: torch.Tensor) -> torch.Tensor:
        """``(B, heads, L, L)``: block ``block``'s bias at ``buckets (B, L, L)``."""
        return _Gather.apply(self.table[block], buckets)


__all__ = ["TimeBias", "time_buckets"]
