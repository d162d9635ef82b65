"""Row helpers: sparse rows -> masks, counts, padded item lists, sorting."""

import numpy as np
import scipy.sparse as sp
import torch

from deeprecs.evaluation.masks import padded_items, row_counts, rows_mask, sort_rows

M = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]], dtype=np.float32))


def test_rows_mask_whole_matrix_selected_rows_and_passthrough():
    assert rows_mask(M).tolist() == (M.toarray() > 0).tolist()
    assert rows_mask(M, torch.tensor([2, 0, 2])).tolist() == (M.toarray()[[2, 0, 2]] > 0).tolist()
    dense = torch.tensor([[True, False], [False, False]])
    assert torch.equal(rows_mask(dense), dense)
    assert rows_mask(dense, np.array([1])).tolist() == [[False, False]]


def test_row_counts_and_padded_items():
    mask = rows_mask(M)
    assert row_counts(mask).tolist() == [2, 0, 3]
    items, valid = padded_items(mask)
    assert items.tolist() == [[1, 3, 0], [0, 0, 0], [0, 1, 2]]
    assert valid.tolist() == [[True, True, False], [False, False, False], [True, True, True]]
    items, valid = padded_items(torch.zeros(2, 5, dtype=torch.bool))
    assert items.shape == (2, 0) and valid.shape == (2, 0)


def test_sort_rows_matches_torch_sort():
    x = torch.randn(7, 33, generator=torch.Generator().manual_seed(0))
    x[0, :5] = float("-inf")
    assert torch.equal(sort_rows(x), torch.sort(x, dim=1).values)
    assert torch.equal(sort_rows(x.to(torch.bfloat16)), torch.sort(x.to(torch.bfloat16), dim=1).values)
