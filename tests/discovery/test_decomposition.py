"""The CD-T decomposition is exact: β + γ equals the true activation at every layer, on every family.

``checked=True`` propagates γ *independently* with the γ-form of every rule (f(γ), the |γ|-share of
a bias, attention on γ's own q/k/v ...), never as ``total − β``. So β + γ = total holds only if the
rules are mutually consistent, and total = the Bridge's activation only if the engine re-implements
each family exactly (norms, masks, sliding windows, RoPE, GQA, QK-norm, biases).
"""

from __future__ import annotations

import types

import pytest
import torch

from circuitlab.discovery import UnsupportedArchitectureError
from circuitlab.discovery.decomposition import build_spec, propagate, rules
from circuitlab.discovery.runs import clean_pass
from circuitlab.heads import Head
from circuitlab.tasks import label_logits, make_task


def _setup(model, examples, padding_side):
    task = make_task("nusax", model.tokenizer)
    batch = task.encode(examples, model.tokenizer, padding_side=padding_side)
    g = model.geometry
    names = [f"blocks.{l}.hook_out" for l in range(g.n_layers)] + [
        f"blocks.{l}.attn.hook_z" for l in range(g.n_layers)
    ]
    with torch.no_grad():
        clean = clean_pass(model, batch, capture=names)
    real = batch.attention_mask.bool()
    mu = torch.stack([clean.acts[f"blocks.{l}.attn.hook_z"][real].mean(0) for l in range(g.n_layers)])
    sources = [Head(l, h) for l in range(g.n_layers) for h in range(g.n_heads)]
    return task, batch, clean, mu, sources


def _rel(err: torch.Tensor, scale: torch.Tensor) -> float:
    return float(err.abs().max() / scale.abs().max().clamp_min(1e-12))


@pytest.mark.parametrize("norm_rule", ["difference", "frozen"])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_beta_plus_gamma_is_the_clean_activation_at_every_layer(tiny_model, mixed_examples, padding_side, norm_rule):
    task, batch, clean, mu, sources = _setup(tiny_model, mixed_examples, padding_side)
    assert batch.attention_mask.sum(1).unique().numel() > 3  # really different lengths, really padded
    spec = build_spec(tiny_model.hf_model)
    record: dict = {}
    logits = propagate(spec, clean, mu, sources, label_token_ids=task.label_token_ids, checked=True,
                       record=record, stream_chunk=5, norm_rule=norm_rule)
    n = spec.n_layers
    real = batch.attention_mask.bool()
    rows = torch.arange(len(batch))
    for layer in range(n):
        resid = record[layer]["resid"]
        ref = clean.acts[f"blocks.{layer}.hook_out"]
        mask = real[..., None]
        if layer == n - 1:  # the last layer is evaluated at the prediction position only
            ref, mask = ref[rows, batch.last_pos][:, None], torch.ones(len(batch), 1, 1, dtype=torch.bool)
        assert _rel((resid.total - ref) * mask, ref) < 1e-5, f"layer {layer}: engine total != Bridge activation"
        assert resid.gamma is not None
        assert _rel((resid.beta + resid.gamma - resid.total) * mask, ref) < 1e-5, f"layer {layer}: beta+gamma"
        assert resid.beta.abs().max() > 0
        if layer < n - 1:
            z = record[layer]["z"]
            zref = clean.acts[f"blocks.{layer}.attn.hook_z"]
            zmask = real[..., None, None]
            assert _rel((z.total - zref) * zmask, zref) < 1e-5
            assert _rel((z.beta + z.gamma - z.total) * zmask, zref) < 1e-5
    with torch.no_grad():
        ref_logits = label_logits(tiny_model, task, batch)
    assert _rel(logits.total - ref_logits, ref_logits) < 1e-5
    assert _rel(logits.beta + logits.gamma - logits.total, ref_logits) < 1e-5
    # The fast path (γ implicit, other chunking) gives the same β.
    fast = propagate(spec, clean, mu, sources, label_token_ids=task.label_token_ids, stream_chunk=7,
                     norm_rule=norm_rule)
    assert fast.gamma is None
    torch.testing.assert_close(fast.beta, logits.beta, rtol=1e-5, atol=1e-6)


def test_padding_side_does_not_change_the_logit_split(tiny_qwen2, mixed_examples):
    """Padding is masked and excluded from β, so left and right padding give the same β-logits."""
    out = []
    for side in ("right", "left"):
        task, batch, clean, mu, sources = _setup(tiny_qwen2, mixed_examples, side)
        spec = build_spec(tiny_qwen2.hf_model)
        out.append(propagate(spec, clean, mu, sources, label_token_ids=task.label_token_ids).beta)
    torch.testing.assert_close(out[0], out[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "rule,broken",
    [
        ("add_bias", lambda x, bias: rules.Parts(  # give β the whole bias instead of its share
            x.total + bias, x.beta + bias if bias is not None else x.beta,
            None if x.gamma is None or bias is None else x.gamma + bias * 0.5)),
        ("elementwise", lambda x, fn: rules.Parts(fn(x.total), fn(x.beta), None if x.gamma is None else fn(x.gamma))),
    ],
)
def test_the_exactness_check_catches_a_wrong_rule(monkeypatch, tiny_gpt2, mixed_examples, rule, broken):
    """The check above can fail: an inconsistent rule breaks β + γ = total (GPT-2: LayerNorm biases, which only
    the frozen norm rule shares, and GELU)."""
    model = tiny_gpt2
    task, batch, clean, mu, sources = _setup(model, mixed_examples, "right")
    spec = build_spec(model.hf_model)
    original = getattr(rules, rule)
    if rule == "add_bias":
        monkeypatch.setattr(rules, rule, lambda x, bias: original(x, None) if bias is None else broken(x, bias))
    else:
        monkeypatch.setattr(rules, rule, broken)
    logits = propagate(spec, clean, mu, sources, label_token_ids=task.label_token_ids, checked=True,
                       norm_rule="frozen" if rule == "add_bias" else "difference")
    assert _rel(logits.beta + logits.gamma - logits.total, logits.total) > 1e-3


def test_the_exactness_check_catches_a_wrong_product_rule(monkeypatch, tiny_qwen2, mixed_examples):
    """A γ-form inconsistent with the β-form (here: γ' = x_γ ∘ y_γ) breaks β + γ = total."""
    task, batch, clean, mu, sources = _setup(tiny_qwen2, mixed_examples, "right")
    original = rules.product

    def broken(x, y, op=torch.mul):
        out = original(x, y, op)
        if x.gamma is not None:
            out.gamma = op(x.gamma, y.gamma)
        return out

    monkeypatch.setattr(rules, "product", broken)
    logits = propagate(build_spec(tiny_qwen2.hf_model), clean, mu, sources, label_token_ids=task.label_token_ids,
                       checked=True)
    assert _rel(logits.beta + logits.gamma - logits.total, logits.total) > 1e-3


def test_unknown_family_is_refused():
    fake = types.SimpleNamespace(config=types.SimpleNamespace(model_type="mamba"))
    with pytest.raises(UnsupportedArchitectureError, match="mamba.*supported families"):
        build_spec(fake)


def test_unsupported_option_is_refused(tiny_qwen2):
    cfg = tiny_qwen2.hf_model.config
    old = getattr(cfg, "pretraining_tp", 1)
    cfg.pretraining_tp = 2
    try:
        with pytest.raises(UnsupportedArchitectureError, match="pretraining_tp"):
            build_spec(tiny_qwen2.hf_model)
    finally:
        cfg.pretraining_tp = old


def test_head_target_stops_at_the_target_layer(tiny_qwen2, mixed_examples):
    task, batch, clean, mu, sources = _setup(tiny_qwen2, mixed_examples, "right")
    spec = build_spec(tiny_qwen2.hf_model)
    seen = []
    early = [s for s in sources if s.layer < 2]
    out = propagate(spec, clean, mu, early, stop_layer=2, on_z=lambda layer, src, z: seen.append((layer, src)))
    assert out is None
    assert [layer for layer, _ in seen] == [1, 2]
    assert seen[-1][1] == list(range(len(early)))  # every source reaches layer 2


@pytest.mark.parametrize(
    "streams,n_heads,n_kv,t_q,softcap",
    [(5, 4, 1, 7, None), (5, 4, 2, 7, 3.0), (4, 4, 4, 6, None), (3, 4, 1, 1, None), (0, 4, 1, 6, None)],
    ids=["gqa-1kv", "gqa-2kv-softcap", "mha", "one-query-row", "no-streams"],
)
def test_fast_attention_equals_the_general_rules(monkeypatch, streams, n_heads, n_kv, t_q, softcap):
    """The β-only attention (streams folded into matrix rows) computes what the general product/softmax rules
    compute, for grouped-query, multi-head, soft-capped, single-row and stream-less inputs, with masking."""
    gen = torch.Generator().manual_seed(0)
    b, t_k, dh = 3, 6 if t_q == 1 else t_q, 8

    def parts(h: int, t: int) -> rules.Parts:
        total = torch.randn(b, t, h, dh, generator=gen)
        return rules.Parts(total, 0.3 * torch.randn(streams, b, t, h, dh, generator=gen))

    q, k, v = parts(n_heads, t_q), parts(n_kv, t_k), parts(n_kv, t_k)
    mask = torch.zeros(b, 1, t_q, t_k)
    mask[0, ..., :2] = torch.finfo(torch.float32).min  # a left-padded row
    scaling = 0.3  # not a power of two: the two forms round differently
    checked = [rules.Parts(p.total, p.beta, p.total - p.beta) for p in (q, k, v)]
    calls, fast_path = [], rules._attention_beta
    monkeypatch.setattr(rules, "_attention_beta", lambda *a: calls.append(1) or fast_path(*a))
    ref = rules.attention(*checked, mask, scaling, softcap)  # the general path (γ carried)
    assert not calls
    fast = rules.attention(q, k, v, mask, scaling, softcap)
    assert calls == [1]
    assert fast.gamma is None and fast.beta.shape == (streams, b, t_q, n_heads, dh)
    torch.testing.assert_close(fast.total, ref.total, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.beta, ref.beta, rtol=1e-5, atol=1e-6)
    if streams:
        assert fast.beta.abs().max() > 1e-2
