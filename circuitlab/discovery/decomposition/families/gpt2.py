"""GPT-2: LayerNorm, fused Conv1D ``c_attn`` (``[d_model, 3·d_model]``), GELU MLP, biases everywhere."""

from __future__ import annotations

import torch

from circuitlab.discovery.decomposition.families import register_family
from circuitlab.discovery.decomposition.families.common import layernorm, param, refuse, unwrap
from circuitlab.discovery.decomposition.spec import AttentionSpec, DecompositionSpec, LayerSpec, MLPSpec


@register_family("gpt2")
def gpt2_spec(hf_model: torch.nn.Module) -> DecompositionSpec:
    cfg = hf_model.config
    refuse(bool(getattr(cfg, "add_cross_attention", False)), "gpt2", "cross-attention")
    d, h = cfg.n_embd, cfg.n_head
    dh = d // h
    layers = []
    for i, block in enumerate(hf_model.transformer.h):
        blk = unwrap(block)
        attn, mlp = unwrap(blk.attn), unwrap(blk.mlp)
        w = attn.c_attn.weight.detach().T  # Conv1D stores [in, out]; HF layout is [out, in]
        b = param(attn.c_attn.bias)
        scaling = dh**-0.5 if cfg.scale_attn_weights else 1.0
        if cfg.scale_attn_by_inverse_layer_idx:
            scaling /= float(i + 1)
        spec_attn = AttentionSpec(
            n_heads=h, n_kv_heads=h, d_head=dh,
            q_weight=w[:d], k_weight=w[d : 2 * d], v_weight=w[2 * d :],
            q_bias=None if b is None else b[:d], k_bias=None if b is None else b[d : 2 * d],
            v_bias=None if b is None else b[2 * d :],
            o_weight=attn.c_proj.weight.detach().T, o_bias=param(attn.c_proj.bias),
            q_norm=None, k_norm=None, rotary=False, scaling=scaling, softcap=None,
        )
        spec_mlp = MLPSpec(
            "plain", mlp.act, mlp.c_fc.weight.detach().T, param(mlp.c_fc.bias), None, None,
            mlp.c_proj.weight.detach().T, param(mlp.c_proj.bias),
        )
        layers.append(LayerSpec(layernorm(blk.ln_1), spec_attn, None, layernorm(blk.ln_2), spec_mlp, None))
    head = hf_model.get_output_embeddings()
    return DecompositionSpec(
        "gpt2", tuple(layers), layernorm(hf_model.transformer.ln_f), unwrap(head).weight.detach(),
        param(getattr(unwrap(head), "bias", None)), None,
    )
