"""Llama and Qwen2: RMSNorm, RoPE, grouped-query attention, SwiGLU MLP (Qwen2: Q/K/V biases)."""

from __future__ import annotations

import torch

from circuitlab.discovery.decomposition.families import register_family
from circuitlab.discovery.decomposition.families.common import param, refuse, rms, unwrap
from circuitlab.discovery.decomposition.spec import AttentionSpec, DecompositionSpec, LayerSpec, MLPSpec


@register_family("llama", "qwen2")
def llama_spec(hf_model: torch.nn.Module) -> DecompositionSpec:
    cfg = hf_model.config
    family = cfg.model_type
    refuse(getattr(cfg, "pretraining_tp", 1) not in (1, None), family, "pretraining_tp > 1")
    layers = []
    for block in hf_model.model.layers:
        blk = unwrap(block)
        attn, mlp = unwrap(blk.self_attn), unwrap(blk.mlp)
        refuse(any(hasattr(attn, n) for n in ("q_norm", "k_norm")), family, "QK-norm on a Llama-style layer")
        spec_attn = AttentionSpec(
            n_heads=cfg.num_attention_heads, n_kv_heads=cfg.num_key_value_heads, d_head=attn.head_dim,
            q_weight=attn.q_proj.weight.detach(), k_weight=attn.k_proj.weight.detach(),
            v_weight=attn.v_proj.weight.detach(), q_bias=param(attn.q_proj.bias), k_bias=param(attn.k_proj.bias),
            v_bias=param(attn.v_proj.bias), o_weight=attn.o_proj.weight.detach(), o_bias=param(attn.o_proj.bias),
            q_norm=None, k_norm=None, rotary=True, scaling=float(attn.scaling), softcap=None,
        )
        spec_mlp = MLPSpec(
            "gated", mlp.act_fn, mlp.gate_proj.weight.detach(), param(mlp.gate_proj.bias),
            mlp.up_proj.weight.detach(), param(mlp.up_proj.bias), mlp.down_proj.weight.detach(),
            param(mlp.down_proj.bias),
        )
        layers.append(LayerSpec(rms(blk.input_layernorm), spec_attn, None, rms(blk.post_attention_layernorm),
                                spec_mlp, None))
    head = unwrap(hf_model.get_output_embeddings())
    return DecompositionSpec(
        family, tuple(layers), rms(hf_model.model.norm), head.weight.detach(), param(getattr(head, "bias", None)),
        None,
    )
