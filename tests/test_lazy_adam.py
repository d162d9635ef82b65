"""LazyAdam (``--optimizer sparse-adam``) against torch's SparseAdam, and the per-row sum of sparse gradients."""

import torch
from torch import nn

from deeprecs.lazy_adam import LazyAdam, coalesce_rows


def test_coalesce_rows_sums_repeated_rows_like_coalesce():
    g = torch.Generator().manual_seed(0)
    idx = torch.tensor([[5, 1, 5, 0, 1, 5]])
    values = torch.randn(6, 3, generator=g)
    grad = torch.sparse_coo_tensor(idx, values, (8, 3))
    ours, ref = coalesce_rows(grad), grad.coalesce()
    assert ours.is_coalesced()
    assert torch.equal(ours._indices(), ref._indices())
    assert torch.allclose(ours._values(), ref._values())
    assert torch.equal(ours._values()[2], values[0] + values[2] + values[5])  # row 5, summed in input order
    dense = torch.ones(4, 2)
    assert coalesce_rows(dense) is dense


def test_lazy_adam_matches_sparse_adam_and_leaves_untouched_rows():
    torch.manual_seed(0)
    a = nn.Embedding(10, 4, sparse=True)
    b = nn.Embedding(10, 4, sparse=True)
    b.load_state_dict(a.state_dict())
    ours, ref = LazyAdam(a.parameters(), lr=0.1), torch.optim.SparseAdam(b.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        idx = torch.randint(0, 6, (12,), generator=g)  # rows 6..9 never touched; repeats within a batch
        target = torch.randn(12, 4, generator=g)
        for emb, opt in ((a, ours), (b, ref)):
            opt.zero_grad()
            ((emb(idx) - target) ** 2).sum().backward()
            opt.step()
    assert torch.allclose(a.weight, b.weight, atol=1e-6)
    torch.manual_seed(0)
    start = nn.Embedding(10, 4)
    assert torch.equal(a.weight[6:], start.weight[6:])
