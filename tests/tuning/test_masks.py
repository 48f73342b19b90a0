"""ParamMask: which elements each head owns, per family layout and K/V rule."""

from __future__ import annotations

import pytest

from circuitlab.heads import HeadSet
from circuitlab.tuning import KVRule, ModelIndex, ParamMask, TensorMask


def _proj(index, layer, p):
    return index.adapter.projection_path(layer, p)


def test_head_slices_follow_the_layout(tiny_model):
    g = tiny_model.geometry
    index = ModelIndex.build(tiny_model.hf_model, g.family)
    mask = ParamMask.for_heads(tiny_model, HeadSet.of([(1, 2)]), norms=False)
    d = g.d_head
    q = mask.tensors[f"{_proj(index, 1, 'q')}.weight"]
    o = mask.tensors[f"{_proj(index, 1, 'o')}.weight"]
    assert q.blocks == ((2 * d, 3 * d),) and q.dim == 0  # Q: output rows (the Bridge's Q is an nn.Linear)
    # O: input features; a column block of an nn.Linear [d_model, H*d], a row block of GPT-2's Conv1D [H*d, d_model].
    assert o.blocks == ((2 * d, 3 * d),) and o.dim == (0 if g.family == "gpt2" else 1)
    kv = g.kv_head_of(2)
    k = mask.tensors[f"{_proj(index, 1, 'k')}.weight"]
    assert k.blocks == ((kv * d, (kv + 1) * d),)
    # Biases: Q/K/V biases are sliced with their head; the shared O bias is never a head's own.
    has_qbias = f"{_proj(index, 1, 'q')}.bias" in index.params
    assert (f"{_proj(index, 1, 'q')}.bias" in mask) == has_qbias
    assert f"{_proj(index, 1, 'o')}.bias" not in mask
    assert all(".1." in n or ".h.1." in n for n in mask.tensors)  # nothing outside layer 1
    per_head = 2 * d * g.d_model + (2 * d * g.d_model)  # Q + O, then K + V of its kv head
    biases = 3 * d if has_qbias else 0
    assert mask.n_trainable == per_head + biases


def test_norms_are_added_whole(tiny_model):
    index = ModelIndex.build(tiny_model.hf_model, tiny_model.geometry.family)
    with_norms = ParamMask.for_heads(tiny_model, HeadSet.of([(0, 0)]))
    norms = ParamMask.for_norms(tiny_model)
    assert set(norms.tensors) == set(index.norm_params()) and len(norms) >= 2 * tiny_model.geometry.n_layers + 1
    assert all(m.is_full for m in norms.tensors.values())
    assert with_norms.n_trainable == ParamMask.for_heads(tiny_model, HeadSet.of([(0, 0)]), norms=False).n_trainable \
        + norms.n_trainable
    assert not any(index.adapter.is_embedding(n) for n in with_norms.tensors)


@pytest.mark.parametrize("rule", list(KVRule))
def test_kv_rules_under_gqa(tiny_qwen2, rule):
    g = tiny_qwen2.geometry  # 4 query heads share 2 K/V heads: {0,1} -> kv 0, {2,3} -> kv 1
    assert g.group_size == 2
    index = ModelIndex.build(tiny_qwen2.hf_model, g.family)
    kname = f"{_proj(index, 0, 'k')}.weight"
    one = ParamMask.for_heads(tiny_qwen2, HeadSet.of([(0, 0)]), rule, norms=False)
    both = ParamMask.for_heads(tiny_qwen2, HeadSet.of([(0, 0), (0, 1)]), rule, norms=False)
    d = g.d_head
    expect_one = {KVRule.ANY: ((0, d),), KVRule.ALL: None, KVRule.NONE: None}[rule]
    expect_both = {KVRule.ANY: ((0, d),), KVRule.ALL: ((0, d),), KVRule.NONE: None}[rule]
    assert (one.tensors[kname].blocks if kname in one else None) == expect_one
    assert (both.tensors[kname].blocks if kname in both else None) == expect_both


def test_counts_fraction_union_and_json(tiny_model):
    a = ParamMask.for_heads(tiny_model, HeadSet.of([(0, 1)]), norms=False)
    b = ParamMask.for_heads(tiny_model, HeadSet.of([(0, 3), (2, 0)]), norms=False)
    ab = ParamMask.for_heads(tiny_model, HeadSet.of([(0, 1), (0, 3), (2, 0)]), norms=False)
    union = a | b
    assert union.n_trainable == ab.n_trainable and set(union.tensors) == set(ab.tensors)
    for n, m in ab.tensors.items():
        assert union.tensors[n].blocks == m.blocks
        assert m.bool_mask().sum().item() == m.numel
    full = ParamMask.full(tiny_model)
    assert full.n_trainable == full.total and full.fraction == 1.0
    assert 0 < ab.fraction < 1
    back = ParamMask.from_dict(ab.to_dict())
    assert back.to_dict() == ab.to_dict() and back.fingerprint() == ab.fingerprint()
    no_emb = ParamMask.full(tiny_model, embeddings=False)
    assert no_emb.n_trainable < full.n_trainable


def test_gpt2_fused_mirror_is_not_a_parameter():
    from circuitlab.models import load_model

    m = load_model("tiny-gpt2")
    index = ModelIndex.build(m.hf_model, "gpt2")
    assert not any("c_attn" in n or ".qkv." in n for n in index.params)
    # The Bridge's split Q is a view of c_attn: the mirror follows in-place updates, so it is not counted twice.
    attn = m.hf_model.transformer.h[0].attn
    assert attn.q.original_component.weight.data_ptr() == attn.qkv.original_component.weight.data_ptr()


def test_errors_name_the_problem(tiny_model):
    with pytest.raises(ValueError, match="out of range"):
        ParamMask.for_heads(tiny_model, HeadSet.of([(99, 0)]))
    with pytest.raises(ValueError, match="Unknown K/V rule"):
        ParamMask.for_heads(tiny_model, HeadSet.of([(0, 0)]), "some")
    with pytest.raises(ValueError, match="exceed"):
        TensorMask("w", (4, 4), 0, ((2, 9),))
    index = ModelIndex.build(tiny_model.hf_model, tiny_model.geometry.family)
    with pytest.raises(KeyError, match="not a parameter"):
        ParamMask.from_tensors(index, [TensorMask.whole("nope.weight", (3,))])
