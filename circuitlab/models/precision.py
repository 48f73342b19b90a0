"""Float32 matrix-product precision: exact by default, bfloat16 products as an opt-in speed-up.

Context
-------
Weights and activations stay float32 throughout circuitlab. What this setting changes is
how a float32 matrix product is *computed* (``torch.set_float32_matmul_precision``):

- ``"highest"`` (default): true float32 products. Every exactness test (decompositions,
  masks, deltas) assumes it.
- ``"high"``: TF32 products on NVIDIA GPUs since Ampere; no effect on a CPU.
- ``"medium"``: products of bfloat16-rounded inputs with float32 accumulation. On CPUs
  with AMX / AVX512-BF16 (oneDNN) a matmul runs about 3.5x faster (measured here:
  249 -> 860 GFLOP/s for a 800x640x2048 product); elsewhere it may have no effect. Inputs
  keep ~3 significant digits, as in mixed-precision training on GPUs.

The setting is process-wide in torch, so use :func:`matmul_precision` as a context
manager: it restores the previous value on exit. Experiment specs carry it as
``model.matmul_precision`` (a part of every result's identity when it is not the default).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch

from circuitlab.errors import UserError

MatmulPrecision = Literal["highest", "high", "medium"]
PRECISIONS: tuple[str, ...] = ("highest", "high", "medium")


def check_precision(value: str) -> str:
    """``value`` if it is a known precision, else a ValueError that lists them."""
    if value not in PRECISIONS:
        raise UserError(f"Unknown matmul precision {value!r}: use one of {', '.join(PRECISIONS)} "
                         "('highest' = exact float32, 'medium' = bfloat16 products, faster on AMX CPUs).")
    return value


@contextlib.contextmanager
def matmul_precision(value: str) -> Iterator[None]:
    """Compute float32 matrix products at ``value`` precision inside the block (restored afterwards)."""
    check_precision(value)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(value)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)
