"""Where each model family keeps its attention projections, norms and embeddings.

Context
-------
A :class:`~circuitlab.models.LoadedModel` is a TransformerBridge around a
``transformers`` model. The Bridge does not copy the weights: it wraps every HF
submodule, so the HF parameter ``model.layers.0.self_attn.q_proj.weight`` lives at
``model.layers.0._original_component.self_attn._original_component.q_proj._original_component.weight``.
Tuning works on **canonical names**: the live name with every
``._original_component`` removed. For the Llama-like families these are exactly
the Hugging Face names.

GPT-2 is the exception. Its HF checkpoint has one fused ``c_attn`` Conv1D
``[d_model, 3·d_model]`` (Q, K, V as column blocks). At boot the Bridge splits it
into three ``nn.Linear`` modules ``attn.q``, ``attn.k``, ``attn.v`` (weights
``[n_heads·d_head, d_model]``, head ``h`` = a row block) and runs its forward
through those. Their weights are transposed *views* of ``c_attn``'s storage, so
``c_attn`` (also reachable as ``attn.qkv``) follows every in-place update: it is a
*mirror*, never read by the forward, that masks and parameter counts skip. ``attn.o`` is ``c_proj``, a Conv1D
whose weight is ``[n_heads·d_head, d_model]``: head ``h`` is a row block there,
whereas in a Llama ``o_proj`` (``nn.Linear``, ``[d_model, n_heads·d_head]``) it is a
column block. :func:`hf_state_dict` rebuilds ``c_attn`` from the split Q/K/V when a
plain Hugging Face folder is exported.

A :class:`FamilyAdapter` records these facts per family; new families register one
with :func:`register_family`. Unknown families fall back to the Llama layout
(``model.layers.{l}.self_attn.{q,k,v,o}_proj``), which covers Llama, Qwen2,
Mistral, Gemma 1–3 and most decoder-only models.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

#: The role of an attention projection; Q/K/V heads are output features, O heads input features.
Projection = Literal["q", "k", "v", "o"]
PROJECTIONS: tuple[Projection, ...] = ("q", "k", "v", "o")

_ORIG = "._original_component"


def canonical(name: str) -> str:
    """The Bridge-independent name of a parameter or module (``._original_component`` removed)."""
    return name.replace(_ORIG, "")


def conv1d_type() -> type | None:
    try:
        from transformers.pytorch_utils import Conv1D

        return Conv1D
    except ImportError:  # pragma: no cover - transformers always has it
        return None


def weight_layout(module: nn.Module) -> Literal["linear", "conv1d"]:
    """``"linear"`` (weight ``[out, in]``, ``y = x Wᵀ + b``) or ``"conv1d"`` (weight ``[in, out]``, ``y = x W + b``)."""
    conv = conv1d_type()
    if conv is not None and isinstance(module, conv):
        return "conv1d"
    if isinstance(module, nn.Linear):
        return "linear"
    raise TypeError(
        f"Expected an nn.Linear or transformers Conv1D attention projection, got {type(module).__name__}. "
        "Register a FamilyAdapter for this architecture (circuitlab.tuning.families.register_family)."
    )


def is_norm_module(module: nn.Module) -> bool:
    """LayerNorm / RMSNorm modules of any family (by type or by the ``*Norm`` class-name convention)."""
    if isinstance(module, (nn.LayerNorm, getattr(nn, "RMSNorm", nn.LayerNorm))):
        return True
    name = type(module).__name__
    return name.endswith(("RMSNorm", "LayerNorm")) and not name.endswith("Bridge")


@dataclass(frozen=True)
class FamilyAdapter:
    """How one model family names the parts that tuning touches.

    Attributes:
        family: the HF ``model_type`` this adapter serves.
        attention: canonical module path of each projection, with ``{layer}`` (e.g.
            ``{"q": "model.layers.{layer}.self_attn.q_proj", ...}``).
        ignore: regular expressions of canonical parameter names that no method may
            train and that are not counted as model parameters (stale mirrors).
        embedding_patterns: regexes of the token/position embedding parameters (frozen
            by every method except ``full`` and ``direct``).
        to_hf: optional function turning the canonical state dict into the plain HF
            state dict (GPT-2 rebuilds ``c_attn``); identity when ``None``.
    """

    family: str
    attention: dict[str, str]
    ignore: tuple[str, ...] = ()
    embedding_patterns: tuple[str, ...] = (r"(^|\.)embed_tokens\.", r"(^|\.)wte\.", r"(^|\.)wpe\.", r"(^|\.)lm_head\.")
    to_hf: Callable[[dict[str, torch.Tensor], int], dict[str, torch.Tensor]] | None = field(default=None, compare=False)

    def projection_path(self, layer: int, proj: Projection) -> str:
        return self.attention[proj].format(layer=layer)

    def is_ignored(self, canonical_name: str) -> bool:
        return any(re.search(p, canonical_name) for p in self.ignore)

    def is_embedding(self, canonical_name: str) -> bool:
        return any(re.search(p, canonical_name) for p in self.embedding_patterns)


def _gpt2_to_hf(state: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """Canonical Bridge names → GPT-2 HF names: split ``attn.q/k/v`` back into the fused ``c_attn``."""
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        if re.search(r"\.attn\.(q|k|v|qkv|c_attn)\.", name):
            continue
        out[re.sub(r"\.attn\.o\.", ".attn.c_proj.", name)] = t
    for layer in range(n_layers):
        pre = f"transformer.h.{layer}.attn"
        # nn.Linear weights are [out, in]; Conv1D c_attn is [in, 3*out]: transpose back, concatenate columns.
        out[f"{pre}.c_attn.weight"] = torch.cat([state[f"{pre}.{p}.weight"].T for p in "qkv"], dim=1).contiguous()
        if f"{pre}.q.bias" in state:
            out[f"{pre}.c_attn.bias"] = torch.cat([state[f"{pre}.{p}.bias"] for p in "qkv"])
    return out


_LLAMA_LIKE = FamilyAdapter(
    family="llama",
    attention={p: f"model.layers.{{layer}}.self_attn.{p}_proj" for p in PROJECTIONS},
)

FAMILIES: dict[str, FamilyAdapter] = {
    "gpt2": FamilyAdapter(
        family="gpt2",
        attention={p: f"transformer.h.{{layer}}.attn.{p}" for p in PROJECTIONS},
        ignore=(r"\.attn\.(qkv|c_attn)\.",),
        to_hf=_gpt2_to_hf,
    ),
}
for _fam in ("llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "gemma3", "gemma3_text", "olmo", "phi3"):
    FAMILIES[_fam] = FamilyAdapter(**{**_LLAMA_LIKE.__dict__, "family": _fam})


def register_family(adapter: FamilyAdapter) -> FamilyAdapter:
    """Add or replace the adapter of ``adapter.family``."""
    FAMILIES[adapter.family] = adapter
    return adapter


def family_adapter(family: str) -> FamilyAdapter:
    """The adapter of ``family`` (Llama layout when unknown; a missing module then fails loudly)."""
    return FAMILIES.get(family) or FamilyAdapter(**{**_LLAMA_LIKE.__dict__, "family": family})


@dataclass
class ModelIndex:
    """Canonical names → live parameters and modules of one model, computed once.

    ``params`` holds each distinct parameter once (tied weights under their first
    name), skipping the family's ignored mirrors. ``modules`` maps a canonical path
    to the innermost live module at that path (the HF module, not its Bridge
    wrapper); ``parents`` lists every ``(parent, attribute)`` that references a module,
    so a module can be swapped everywhere it is used.
    """

    hf_model: nn.Module
    adapter: FamilyAdapter
    params: dict[str, nn.Parameter]
    param_module: dict[str, str]
    modules: dict[str, nn.Module]
    parents: dict[int, list[tuple[nn.Module, str]]]
    tied: dict[str, str]

    @classmethod
    def build(cls, hf_model: nn.Module, family: str) -> "ModelIndex":
        adapter = family_adapter(family)
        modules: dict[str, nn.Module] = {}
        parents: dict[int, list[tuple[nn.Module, str]]] = {}
        for name, mod in hf_model.named_modules(remove_duplicate=False):
            cname = canonical(name)
            if cname not in modules or not _is_bridge(mod):
                modules[cname] = mod
            for attr, child in mod._modules.items():
                places = parents.setdefault(id(child), [])
                if child is not None and not any(pm is mod and pa == attr for pm, pa in places):
                    places.append((mod, attr))
        params: dict[str, nn.Parameter] = {}
        param_module: dict[str, str] = {}
        seen: dict[int, str] = {}
        tied: dict[str, str] = {}
        for name, p in hf_model.named_parameters(remove_duplicate=False):
            cname = canonical(name)
            if adapter.is_ignored(cname):
                continue
            if id(p) in seen:
                if seen[id(p)] != cname:
                    tied[cname] = seen[id(p)]
                continue
            seen[id(p)] = cname
            params[cname] = p
            param_module[cname] = cname.rsplit(".", 1)[0]
        return cls(hf_model, adapter, params, param_module, modules, parents, tied)

    def n_params(self) -> int:
        """Distinct trainable-in-principle parameters (tied counted once, mirrors excluded)."""
        return sum(p.numel() for p in self.params.values())

    def module(self, path: str) -> nn.Module:
        try:
            return self.modules[path]
        except KeyError:
            near = [m for m in self.modules if m.rsplit(".", 1)[-1] == path.rsplit(".", 1)[-1]][:3]
            raise KeyError(
                f"No module {path!r} in this {self.adapter.family!r} model (similar: {near}). The family adapter "
                "does not match the architecture; register one with circuitlab.tuning.families.register_family."
            ) from None

    def projection(self, layer: int, proj: Projection) -> tuple[str, nn.Module]:
        path = self.adapter.projection_path(layer, proj)
        return path, self.module(path)

    def norm_params(self) -> list[str]:
        """Canonical names of every LayerNorm/RMSNorm parameter (weights and, for LayerNorm, biases)."""
        return [n for n in self.params if is_norm_module(self.modules[self.param_module[n]])]

    def embedding_params(self) -> list[str]:
        return [n for n in self.params if self.adapter.is_embedding(n)]

    def swap_module(self, old: nn.Module, new: nn.Module) -> list[tuple[nn.Module, str]]:
        """Replace ``old`` by ``new`` at every attribute that references it; returns those places."""
        places = self.parents.get(id(old), [])
        if not places:
            raise RuntimeError(f"Cannot swap a {type(old).__name__}: no parent module references it.")
        for parent, attr in places:
            parent._modules[attr] = new
        self.parents[id(new)] = list(places)
        return places

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Canonical name → live tensor (no copies)."""
        return {n: p.data for n, p in self.params.items()}


def _is_bridge(mod: nn.Module) -> bool:
    return "_original_component" in mod._modules

