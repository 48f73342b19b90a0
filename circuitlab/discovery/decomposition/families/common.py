"""Helpers shared by the family adapters."""

from __future__ import annotations

import torch
from torch import Tensor

from circuitlab.discovery.decomposition.spec import NormSpec
from circuitlab.discovery.errors import UnsupportedArchitectureError


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    """The HF module under any TransformerBridge wrapper (its ``original_component``)."""
    for _ in range(8):
        inner = getattr(module, "original_component", None)
        if not isinstance(inner, torch.nn.Module) or inner is module:
            return module
        module = inner
    return module


def param(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.detach()


def rms(module: torch.nn.Module, offset: bool = False) -> NormSpec:
    """An RMSNorm spec; ``offset`` for Gemma's ``(1 + w)`` convention."""
    m = unwrap(module)
    eps = getattr(m, "variance_epsilon", None) or getattr(m, "eps", None)
    if eps is None:
        raise UnsupportedArchitectureError(f"Cannot read the epsilon of norm {type(m).__name__}.")
    w = m.weight.detach()
    return NormSpec("rms", (1.0 + w) if offset else w, None, float(eps))


def layernorm(module: torch.nn.Module) -> NormSpec:
    m = unwrap(module)
    if not isinstance(m, torch.nn.LayerNorm):
        raise UnsupportedArchitectureError(f"Expected a LayerNorm, found {type(m).__name__}.")
    return NormSpec("layer", param(m.weight), param(m.bias), float(m.eps))


def refuse(condition: bool, family: str, what: str) -> None:
    if condition:
        raise UnsupportedArchitectureError(
            f"{family}: {what} is not supported by the CD-T decomposition (no exact rule); refusing rather than "
            "approximating. Use an ablation or attribution scorer for this model."
        )
