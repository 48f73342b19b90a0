"""A model as the decomposition sees it: a stack of typed layer specs.

Context
-------
The families the package loads differ in details (fused or separate Q/K/V, norms
before and after each sub-block, QK-norm, gated or plain MLP, biases), but every
layer is the same pipeline::

    x ─ ln1 ─ q,k,v ─ [qk-norm] ─ [rope] ─ attention ─ z ─ o_proj ─ [post-attn norm] ─ (+x)
      ─ ln2 ─ mlp ─ [post-mlp norm] ─ (+)

A family adapter (:mod:`circuitlab.discovery.decomposition.families`) reads the HF
modules into these specs; the engine then runs the same rules on every family.
The weights are the model's own tensors (views, never copies), in HF layout
(``[d_out, d_in]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from circuitlab.discovery.decomposition import rules
from circuitlab.discovery.decomposition.rules import Parts

NormRule = Literal["difference", "frozen"]
NORM_RULES: tuple[str, ...] = ("difference", "frozen")


@dataclass(frozen=True)
class NormSpec:
    """A LayerNorm or RMSNorm over the last axis.

    Attributes:
        kind: ``"rms"`` or ``"layer"``.
        weight: the *effective* scale (Gemma's ``1 + w`` already added), or ``None``.
        bias: LayerNorm bias, or ``None``.
        eps: the epsilon inside the square root.
    """

    kind: Literal["rms", "layer"]
    weight: Tensor | None
    bias: Tensor | None
    eps: float

    def own(self, t: Tensor) -> Tensor:
        """The norm of ``t`` with ``t``'s own statistics (the model's computation)."""
        if self.kind == "rms":
            out = t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + self.eps)
            return out if self.weight is None else out * self.weight
        return F.layer_norm(t, t.shape[-1:], self.weight, self.bias, self.eps)

    def __call__(self, x: Parts, rule: NormRule = "difference") -> Parts:
        """Split the norm's output: by finite difference (default) or with frozen total statistics."""
        if rule == "difference":
            if self.kind == "rms":
                return rules.rms_difference(x, self.weight, self.eps)
            return rules.elementwise(x, self.own)
        if rule != "frozen":
            raise ValueError(f"Unknown norm rule {rule!r}; use 'difference' or 'frozen'.")
        if self.kind == "rms":
            return rules.rms_norm(x, self.weight, self.eps)
        return rules.layer_norm(x, self.weight, self.bias, self.eps)


@dataclass(frozen=True)
class AttentionSpec:
    """One attention block.

    Attributes:
        n_heads, n_kv_heads, d_head: geometry (``n_kv_heads < n_heads`` under GQA).
        q_weight, k_weight, v_weight: ``[n_heads*d_head, d_model]`` / ``[n_kv_heads*d_head, d_model]``.
        q_bias, k_bias, v_bias: or ``None``.
        o_weight: ``[d_model, n_heads*d_head]``; head ``h`` owns columns ``h*d_head:(h+1)*d_head``.
        o_bias: or ``None``.
        q_norm, k_norm: per-head RMSNorm over ``d_head`` (Gemma-3's QK-norm), or ``None``.
        rotary: whether RoPE is applied (cos/sin come from the model's own forward).
        scaling: the factor on ``q·k``.
        softcap: attention-logit soft-capping (``tanh(s/c)·c``), or ``None``.
    """

    n_heads: int
    n_kv_heads: int
    d_head: int
    q_weight: Tensor
    k_weight: Tensor
    v_weight: Tensor
    q_bias: Tensor | None
    k_bias: Tensor | None
    v_bias: Tensor | None
    o_weight: Tensor
    o_bias: Tensor | None
    q_norm: NormSpec | None
    k_norm: NormSpec | None
    rotary: bool
    scaling: float
    softcap: float | None


@dataclass(frozen=True)
class MLPSpec:
    """A plain (``act(x W_in) W_out``) or gated (``(act(x W_gate) · x W_up) W_down``) MLP.

    For a plain MLP ``in_weight``/``in_bias`` are set and ``up_*`` are ``None``; for a
    gated one ``in_*`` is the gate projection and ``up_*`` the up projection.
    """

    kind: Literal["plain", "gated"]
    act: Callable[[Tensor], Tensor]
    in_weight: Tensor
    in_bias: Tensor | None
    up_weight: Tensor | None
    up_bias: Tensor | None
    out_weight: Tensor
    out_bias: Tensor | None

    def __call__(self, x: Parts) -> Parts:
        h = rules.linear(x, self.in_weight, self.in_bias)
        if self.kind == "gated":
            assert self.up_weight is not None
            h = rules.gated_product(h, rules.linear(x, self.up_weight, self.up_bias), self.act)
        else:
            h = rules.elementwise(h, self.act)
        return rules.linear(h, self.out_weight, self.out_bias)


@dataclass(frozen=True)
class LayerSpec:
    """One transformer block (pre-norm, sequential attention then MLP)."""

    ln1: NormSpec
    attn: AttentionSpec
    post_attn_norm: NormSpec | None
    ln2: NormSpec
    mlp: MLPSpec
    post_mlp_norm: NormSpec | None


@dataclass(frozen=True)
class DecompositionSpec:
    """Everything the engine needs about a model.

    Attributes:
        family: the HF ``model_type``.
        layers: one :class:`LayerSpec` per block.
        final_norm: the norm before the unembedding.
        unembed_weight: ``[vocab, d_model]`` (only label rows are ever used).
        unembed_bias: or ``None``.
        final_softcap: final-logit soft-capping, or ``None``.
    """

    family: str
    layers: tuple[LayerSpec, ...]
    final_norm: NormSpec
    unembed_weight: Tensor
    unembed_bias: Tensor | None
    final_softcap: float | None

    @property
    def n_layers(self) -> int:
        return len(self.layers)
