"""Building blocks of the models (deeprecs.models.layers)."""

from __future__ import annotations

import pytest
import torch

from deeprecs.models.layers import Dropout


@pytest.mark.parametrize("p", [0.2, 0.35, 0.5])
def test_dropout_keeps_each_element_with_probability_one_minus_p_and_scales_the_survivors(p):
    torch.manual_seed(0)
    x = torch.rand(200_000) + 0.5  # no zeros of its own
    x.requires_grad_(True)
    drop = Dropout(p).train()
    y = drop(x)
    kept = y != 0
    n = len(x)
    assert abs(float((~kept).float().mean()) - p) < 4 * (p * (1 - p) / n) ** 0.5  # binomial: within 4 standard errors
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / (1 - p))  # the same mask in the backward pass


def test_dropout_is_the_identity_in_eval_mode_and_at_zero():
    x = torch.randn(4, 5)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)
    assert torch.equal(Dropout(1.0).train()(x), torch.zeros_like(x))
