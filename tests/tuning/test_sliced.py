"""SlicedProjection: same function as the original module, gradients only for the trainable blocks."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from circuitlab.tuning import SlicedProjection, TensorMask


def _module(layout: str, bias: bool) -> nn.Module:
    torch.manual_seed(0)
    if layout == "linear":
        return nn.Linear(12, 16, bias=bias)
    m = Conv1D(16, 12)  # weight [in=12, out=16]
    nn.init.normal_(m.weight)
    nn.init.normal_(m.bias)
    return m


CASES = [  # (layout, side, bias)
    ("linear", "out", True), ("linear", "out", False), ("linear", "in", True), ("conv1d", "out", True),
    ("conv1d", "in", True),
]


@pytest.mark.parametrize("layout,side,bias", CASES)
def test_forward_matches_and_gradients_stay_in_the_blocks(layout, side, bias):
    base = _module(layout, bias)
    w = base.weight
    out_dim = 0 if layout == "linear" else 1
    dim = out_dim if side == "out" else 1 - out_dim
    blocks = ((4, 8), (12, 16)) if w.shape[dim] == 16 else ((4, 8),)
    wmask = TensorMask("w", tuple(w.shape), dim, blocks)
    bmask = TensorMask("b", (16,), 0, blocks) if side == "out" and bias else None
    for p in base.parameters():
        p.requires_grad_(False)
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    x = torch.randn(2, 5, 12)
    ref = base(x)
    sliced = SlicedProjection(base, wmask, bmask)
    y = sliced(x)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sliced.weight, base.weight)
    assert sum(p.numel() for _, p in sliced.named_pieces()) == wmask.numel + (bmask.numel if bmask else 0)
    y.square().sum().backward()
    assert all(p.grad is not None for _, p in sliced.named_pieces())
    assert all(p.grad is None for p in base.parameters())
    with torch.no_grad():
        for _, p in sliced.named_pieces():
            p.add_(1.0)
    sliced.write_back()
    wm = wmask.bool_mask()
    assert torch.equal(base.weight[~wm], before["weight"][~wm])
    assert torch.equal(base.weight[wm], before["weight"][wm] + 1.0)
    if bias:
        bm = bmask.bool_mask() if bmask else torch.zeros(16, dtype=torch.bool)
        assert torch.equal(base.bias[~bm], before["bias"][~bm])


def test_rejects_a_bias_with_input_blocks():
    base = _module("linear", True)
    with pytest.raises(ValueError, match="bias indexes output features"):
        SlicedProjection(base, TensorMask("w", (16, 12), 1, ((0, 4),)), TensorMask("b", (16,), 0, ((0, 4),)))
