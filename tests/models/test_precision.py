"""matmul_precision: a scoped, validated switch between exact float32 and bfloat16 matrix products."""

from __future__ import annotations

import pytest
import torch

from circuitlab.models import PRECISIONS, matmul_precision


def test_sets_the_precision_inside_and_restores_it_even_on_error():
    before = torch.get_float32_matmul_precision()
    with matmul_precision("medium"):
        assert torch.get_float32_matmul_precision() == "medium"
        with matmul_precision("highest"):
            assert torch.get_float32_matmul_precision() == "highest"
        assert torch.get_float32_matmul_precision() == "medium"
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(RuntimeError), matmul_precision("medium"):
        raise RuntimeError("boom")
    assert torch.get_float32_matmul_precision() == before


def test_unknown_precision_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="highest, high, medium"):
        with matmul_precision("bf16"):
            pass
    assert PRECISIONS == ("highest", "high", "medium")


def test_highest_is_exact_float32():
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(64, 96, generator=g), torch.randn(80, 96, generator=g)
    exact = (x.double() @ w.double().T)
    with matmul_precision("highest"):
        y = x @ w.T
    assert (y.double() - exact).abs().max() < 1e-4
    with matmul_precision("medium"):  # bfloat16 products at most: ~3 significant digits of each input
        z = x @ w.T
    assert (z.double() - exact).abs().max() < 0.05 * exact.abs().max()
