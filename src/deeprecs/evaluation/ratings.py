"""Rating-prediction errors: RMSE, MAE and rounded MAE (PROTOCOLS.md, "Ratings").

Inputs are numpy arrays or torch tensors of shape ``(n,)`` (predictions and true ratings,
aligned); they are compared in float64. Results are Python floats.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from deeprecs.errors import DataError

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]


def _pair(pred: ArrayLike, truth: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    p = _as_float64(pred).reshape(-1)
    t = _as_float64(truth).reshape(-1)
    if p.shape != t.shape:
        raise DataError(f"predictions and ratings differ in length ({p.numel()} vs {t.numel()})")
    if p.numel() == 0:
        raise DataError("no ratings to evaluate")
    if not bool(torch.isfinite(p).all()):
        raise DataError(f"{int((~torch.isfinite(p)).sum())} prediction(s) are NaN or infinite")
    return p, t


def _as_float64(x: ArrayLike) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(device="cpu", dtype=torch.float64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def rmse(pred: ArrayLike, truth: ArrayLike) -> float:
    """Root mean squared error."""
    p, t = _pair(pred, truth)
    return float(torch.sqrt(torch.mean((p - t) ** 2)))


def mae(pred: ArrayLike, truth: ArrayLike) -> float:
    """Mean absolute error."""
    p, t = _pair(pred, truth)
    return float(torch.mean(torch.abs(p - t)))


def round_to_values(pred: ArrayLike, values: ArrayLike) -> torch.Tensor:
    """Each prediction ``(n,)`` moved to the nearest valid rating value (float64 ``(n,)``).

    ``values``: the valid ratings (any order), e.g. ``1..5`` or ``0.5..5`` in 0.5 steps.
    A prediction exactly half-way between two values goes to the **higher** one (3.5 -> 4,
    2.75 -> 3.0 with half steps); predictions outside the range go to the nearest end.
    """
    p = _as_float64(pred).reshape(-1)
    v = torch.unique(_as_float64(values).reshape(-1))  # sorted ascending
    if v.numel() == 0:
        raise DataError("no valid rating values given")
    idx = torch.searchsorted(v, p)  # first value >= p
    hi = v[idx.clamp(max=v.numel() - 1)]
    lo = v[(idx - 1).clamp(min=0)]
    return torch.where(hi - p <= p - lo, hi, lo)


def mae_rounded(pred: ArrayLike, truth: ArrayLike, values: ArrayLike) -> float:
    """MAE after rounding each prediction to the nearest valid value (ties go up)."""
    p, t = _pair(pred, truth)
    return float(torch.mean(torch.abs(round_to_values(p, values) - t)))


def rating_metrics(pred: ArrayLike, truth: ArrayLike, values: ArrayLike | None = None) -> dict[str, float]:
    """``{"rmse", "mae"}`` plus ``"mae_rounded"`` when the valid ``values`` are given."""
    out = {"rmse": rmse(pred, truth), "mae": mae(pred, truth)}
    if values is not None:
        out["mae_rounded"] = mae_rounded(pred, truth, values)
    return out
