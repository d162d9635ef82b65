"""Dense per-batch row helpers: masks from sparse rows, row counts, padded item lists, sorting.

Every metric works on dense ``(B, n_items)`` tensors for one batch of users; this is the one
place where scipy rows (train items, test items) become such masks. On CPU the whole-matrix
helpers go through numpy where torch is an order of magnitude slower (measured on the
943 x 1,682 ML-100K batch); on other devices they stay in torch.

Shapes: ``B`` users in the batch, ``n_items`` items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

RowsLike = sp.spmatrix | sp.sparray | torch.Tensor | np.ndarray


def rows_mask(
    rows: RowsLike,
    users: torch.Tensor | np.ndarray | None = None,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Dense boolean mask ``(B, n_items)``: True where the row stores an entry.

    ``rows``: a scipy sparse matrix whose rows are the batch (``users`` is None) or a matrix
    for all users together with ``users`` ``(B,)``, the batch's row indices. A stored entry
    counts whatever its value. A boolean tensor/array ``(B, n_items)`` is passed through
    (``users`` then selects rows of it, if given).
    """
    if isinstance(rows, (torch.Tensor, np.ndarray)):
        mask = torch.as_tensor(rows).to(dtype=torch.bool, device=device)
        if users is not None:
            mask = mask[torch.as_tensor(users, dtype=torch.long, device=mask.device)]
        return mask
    csr = sp.csr_matrix(rows)
    if users is not None:
        idx = torch.as_tensor(users).detach().cpu().numpy() if isinstance(users, torch.Tensor) else np.asarray(users)
        csr = csr[idx.astype(np.int64)]
    n_rows, n_items = csr.shape
    row_of = np.repeat(np.arange(n_rows), np.diff(csr.indptr))
    mask = np.zeros((n_rows, n_items), dtype=bool)  # numpy: ~15x faster than torch index_put on CPU
    mask[row_of, csr.indices] = True
    return torch.from_numpy(mask).to(device) if device is not None else torch.from_numpy(mask)


def row_counts(mask: torch.Tensor) -> torch.Tensor:
    """Number of True entries in each row of ``mask`` ``(B, n)``; int64 ``(B,)``.

    On CPU via numpy (``torch.sum`` on bool first widens the whole matrix to int64).
    """
    if mask.device.type == "cpu":
        return torch.from_numpy(np.count_nonzero(mask.numpy(), axis=1).astype(np.int64))
    return mask.sum(1)


def padded_items(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The True columns of each row, left-aligned and padded.

    ``mask`` ``(B, n_items)`` bool -> ``items`` int64 ``(B, P)`` (P = most True in a row;
    padding is item 0) and ``valid`` bool ``(B, P)`` (False on padding).
    """
    counts = row_counts(mask)
    width = int(counts.max()) if mask.shape[0] else 0
    rows, cols = mask.nonzero(as_tuple=True)  # row-major order
    slot = torch.arange(len(rows), device=mask.device) - (counts.cumsum(0) - counts)[rows]
    items = torch.zeros((mask.shape[0], width), dtype=torch.long, device=mask.device)
    valid = torch.zeros((mask.shape[0], width), dtype=torch.bool, device=mask.device)
    items[rows, slot] = cols
    valid[rows, slot] = True
    return items, valid


def sort_rows(x: torch.Tensor) -> torch.Tensor:
    """Each row of ``x`` ``(B, n)`` sorted ascending (values only).

    On CPU this goes through numpy, whose vectorised sort is ~10x faster than ``torch.sort``
    there; on other devices it is ``torch.sort``.
    """
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        return torch.from_numpy(np.sort(x.detach().numpy(), axis=1))
    return torch.sort(x, dim=1).values
