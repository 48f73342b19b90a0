"""Gemma-3 (text): RMSNorm with ``(1 + w)``, pre- and post-norms around both sub-blocks, QK-norm,
RoPE with local/global bases, sliding-window layers, GQA (one K/V head on the 270M), GeGLU MLP,
optional attention-logit and final-logit soft-capping.

Sliding windows and the two RoPE bases need no rule of their own: the engine uses the very
mask and cos/sin tensors the model passed to each layer in the clean forward.
"""

from __future__ import annotations

import torch

from circuitlab.discovery.decomposition.families import register_family
from circuitlab.discovery.decomposition.families.common import param, rms, unwrap
from circuitlab.discovery.decomposition.spec import AttentionSpec, DecompositionSpec, LayerSpec, MLPSpec


@register_family("gemma3_text")
def gemma3_spec(hf_model: torch.nn.Module) -> DecompositionSpec:
    cfg = hf_model.config
    layers = []
    for block in hf_model.model.layers:
        blk = unwrap(block)
        attn, mlp = unwrap(blk.self_attn), unwrap(blk.mlp)
        spec_attn = AttentionSpec(
            n_heads=cfg.num_attention_heads, n_kv_heads=cfg.num_key_value_heads, d_head=attn.head_dim,
            q_weight=attn.q_proj.weight.detach(), k_weight=attn.k_proj.weight.detach(),
            v_weight=attn.v_proj.weight.detach(), q_bias=param(attn.q_proj.bias), k_bias=param(attn.k_proj.bias),
            v_bias=param(attn.v_proj.bias), o_weight=attn.o_proj.weight.detach(), o_bias=param(attn.o_proj.bias),
            q_norm=rms(attn.q_norm, offset=True), k_norm=rms(attn.k_norm, offset=True), rotary=True,
            scaling=float(attn.scaling), softcap=getattr(cfg, "attn_logit_softcapping", None),
        )
        spec_mlp = MLPSpec(
            "gated", mlp.act_fn, mlp.gate_proj.weight.detach(), param(mlp.gate_proj.bias),
            mlp.up_proj.weight.detach(), param(mlp.up_proj.bias), mlp.down_proj.weight.detach(),
            param(mlp.down_proj.bias),
        )
        layers.append(LayerSpec(
            rms(blk.input_layernorm, True), spec_attn, rms(blk.post_attention_layernorm, True),
            rms(blk.pre_feedforward_layernorm, True), spec_mlp, rms(blk.post_feedforward_layernorm, True),
        ))
    head = unwrap(hf_model.get_output_embeddings())
    return DecompositionSpec(
        "gemma3_text", tuple(layers), rms(hf_model.model.norm, True), head.weight.detach(),
        param(getattr(head, "bias", None)), getattr(cfg, "final_logit_softcapping", None),
    )
