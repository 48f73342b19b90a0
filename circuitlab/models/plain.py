"""The plain Hugging Face module tree under a TransformerBridge, for fast cached generation.

The Bridge wraps every HF submodule in a component that keeps the original as
``_original_component`` (parameters live there, in HF layout). Its attention wrapper does not
carry the KV cache correctly: cached greedy decoding through the Bridge drifts from the model
(Gemma-3-270M repeats ``" I I I …"``; tiny Llama, Gemma-3 and GPT-2 drift too), so decoding
through it must recompute the whole prefix at every step. :func:`plain_hf` swaps each wrapper
back for its original for the duration of a ``with`` block: the same parameter tensors, no
hooks, HF's own attention and cache. Greedy output equals uncached decoding through the Bridge
(tested on every tiny family); the wrappers are restored on exit, even on error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def _original(module: torch.nn.Module) -> torch.nn.Module:
    while isinstance(getattr(module, "_original_component", None), torch.nn.Module):
        module = module._original_component
    return module


@contextmanager
def plain_hf(hf_model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Within the block, ``hf_model`` is the unwrapped HF model (same parameters, no Bridge hooks)."""
    swaps: list[tuple[torch.nn.Module, str, torch.nn.Module]] = []

    def unwrap(parent: torch.nn.Module) -> None:
        for name, child in list(parent._modules.items()):
            if child is None:
                continue
            orig = _original(child)
            if orig is not child:
                swaps.append((parent, name, child))
                parent._modules[name] = orig
            unwrap(orig)

    try:
        unwrap(hf_model)
        yield hf_model
    finally:
        for parent, name, child in reversed(swaps):
            parent._modules[name] = child
