"""Family adapters: HF modules -> :class:`~circuitlab.discovery.decomposition.spec.DecompositionSpec`.

One small module per architecture, registered by the HF ``model_type`` it reads.
A family that is not registered is refused with
:class:`~circuitlab.discovery.errors.UnsupportedArchitectureError`; an adapter also
refuses any configuration option it has no exact rule for, instead of silently
approximating.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from circuitlab.discovery.decomposition.spec import DecompositionSpec
from circuitlab.discovery.errors import UnsupportedArchitectureError

Adapter = Callable[[torch.nn.Module], DecompositionSpec]
FAMILIES: dict[str, Adapter] = {}


def register_family(*model_types: str) -> Callable[[Adapter], Adapter]:
    """Register an adapter under one or more HF ``model_type`` names."""

    def deco(fn: Adapter) -> Adapter:
        for name in model_types:
            FAMILIES[name] = fn
        return fn

    return deco


def build_spec(hf_model: torch.nn.Module) -> DecompositionSpec:
    """The decomposition spec of ``hf_model`` (a ``*ForCausalLM``), or a clear refusal."""
    family = getattr(hf_model.config, "model_type", None)
    if family not in FAMILIES:
        raise UnsupportedArchitectureError(
            f"The CD-T decomposition has no exact rules for model family {family!r}; supported families are "
            f"{sorted(FAMILIES)}. Use a scorer that needs no decomposition (mean-ablation, zero-ablation, "
            "resample-ablation, attribution) or add an adapter in circuitlab/discovery/decomposition/families/."
        )
    return FAMILIES[family](hf_model)


from circuitlab.discovery.decomposition.families import gemma3, gpt2, llama  # noqa: E402,F401  (registration)

__all__ = ["FAMILIES", "build_spec", "register_family"]
