"""plain_hf: the unwrapped HF tree shares the Bridge's parameters, decodes with the cache, and restores."""

import pytest
import torch

from circuitlab.models import plain_hf


def _modules(hf):
    return [(n, type(m)) for n, m in hf.named_modules()]


def test_plain_hf_shares_parameters_and_restores(tiny_model):
    hf = tiny_model.hf_model
    before = _modules(hf)
    params = {p.untyped_storage().data_ptr() for p in hf.parameters()}  # GPT-2's q/k/v are views of c_attn
    with plain_hf(hf) as plain:
        assert plain is hf
        names = [n for n, _ in plain.named_modules()]
        assert not any("_original_component" in n for n in names)  # no wrapper left
        assert {p.untyped_storage().data_ptr() for p in plain.parameters()} == params  # same tensors, nothing copied
    assert _modules(hf) == before


def test_plain_hf_restores_on_error(tiny_qwen2):
    before = _modules(tiny_qwen2.hf_model)
    with pytest.raises(RuntimeError, match="boom"), plain_hf(tiny_qwen2.hf_model):
        raise RuntimeError("boom")
    assert _modules(tiny_qwen2.hf_model) == before


@torch.no_grad()
def test_plain_hf_cached_generation_equals_uncached_bridge(tiny_model):
    """Left-padded batch: cached decoding on the plain tree equals uncached decoding through the Bridge."""
    tok, hf = tiny_model.tokenizer, tiny_model.hf_model.eval()
    side, tok.padding_side = tok.padding_side, "left"
    try:
        enc = tok(["Translate Indonesian to English.\\nIndonesian: saya suka\\nEnglish:", "a b"],
                  return_tensors="pt", padding=True)
    finally:
        tok.padding_side = side
    kw = dict(do_sample=False, max_new_tokens=10, pad_token_id=tok.pad_token_id or 0)
    ref = hf.generate(**enc, use_cache=False, **kw)
    with plain_hf(hf):
        cached = hf.generate(**enc, use_cache=True, **kw)
    assert torch.equal(cached, ref)
