"""Fixtures for discovery tests: short real-looking prompts of different lengths, and linear toy models."""

from __future__ import annotations

import pytest
import torch

from circuitlab.data.types import Example

_TEXTS = [
    ("Saya sangat senang dengan pelayanan restoran ini, makanannya enak sekali.", "positive"),
    ("Buruk.", "negative"),
    ("Hotel ini berada di pusat kota dekat stasiun.", "neutral"),
    ("Pelayanannya lambat dan kamarnya kotor, saya kecewa.", "negative"),
    ("Enak!", "positive"),
    ("Harga tiket kereta naik minggu ini.", "neutral"),
    ("Makanan di sini luar biasa, saya pasti kembali lagi bersama keluarga.", "positive"),
    ("Tidak suka, terlalu mahal dan pelayan tidak ramah sama sekali.", "negative"),
    ("Toko buka jam sembilan.", "neutral"),
]


@pytest.fixture(scope="session")
def mixed_examples() -> list[Example]:
    """Nine labelled examples, three per label, from 2 to ~20 tokens (so batches are padded)."""
    return [Example(f"ex{i}", text, label, "indonesian") for i, (text, label) in enumerate(_TEXTS)]


def make_linear_toy(name: str):
    """A fresh tiny model made *linear from every head's hook_z to the logits, apart from its norms*.

    - W_Q, W_K (and their biases) are zero, so every attention pattern is uniform over the keys the
      mask allows, for the clean run and for any part of it: attention is then linear in its values;
    - every MLP's output projection (and bias) is zero, so MLPs add nothing;
    - every other bias (V, O, LayerNorm) is zero, so no bias has to be shared between β and γ.

    With the norms' scales held at their clean values (``freeze_norms=True``) the map from any head's
    output to the logits, or to a later head's output, is then linear, and the exact effect of mean
    ablation equals both the CD-T β (whose norm rule uses the clean statistics) and the gradient
    times ``(z − μ)``. Nothing else is linearised, so a wrong head index, column block, GQA mapping,
    mask, position handling, norm or readout makes the three disagree.
    """
    from circuitlab.discovery.decomposition.families.common import unwrap
    from circuitlab.models import load_model

    m = load_model(name)
    hf = m.hf_model
    with torch.no_grad():
        for block in m.bridge.blocks:
            layer = unwrap(block)
            if name == "tiny-gpt2":
                attn, mlp = unwrap(layer.attn), unwrap(layer.mlp)
                d = attn.embed_dim
                attn.c_attn.weight[:, : 2 * d] = 0
                attn.c_attn.bias.zero_()
                attn.c_proj.bias.zero_()
                mlp.c_proj.weight.zero_()
                mlp.c_proj.bias.zero_()
                unwrap(layer.ln_1).bias.zero_()
                unwrap(layer.ln_2).bias.zero_()
            else:
                attn, mlp = unwrap(layer.self_attn), unwrap(layer.mlp)
                for proj in (attn.q_proj, attn.k_proj):
                    proj.weight.zero_()
                for proj in (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.down_proj):
                    if proj.bias is not None:
                        proj.bias.zero_()
                mlp.down_proj.weight.zero_()
        if name == "tiny-gpt2":
            unwrap(hf.transformer.ln_f).bias.zero_()
    return m


@pytest.fixture(scope="session", params=["tiny-gpt2", "tiny-qwen2", "tiny-llama", "tiny-gemma3"])
def linear_toy(request):
    return make_linear_toy(request.param)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run faster on one thread (no OpenMP hand-offs), especially on a busy 2-core machine."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def tiny_gpt2():
    from circuitlab.models import load_model

    return load_model("tiny-gpt2")
