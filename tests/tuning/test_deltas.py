"""Sparse deltas: only the mask's elements, exact apply/revert, plain HF export with the same predictions."""

from __future__ import annotations

import json

import pytest
import torch

from circuitlab.tasks import label_logits, make_task
from circuitlab.tuning import (
    DeltaError, ModelIndex, ModelSnapshot, TrainConfig, apply_delta, build_tuner, choose_heads, compute_delta,
    export_hf, get_method, load_delta, revert_delta, save_delta, train,
)

from ._tuning_helpers import random_scores


def _state(model):
    return {n: p.detach().clone() for n, p in ModelIndex.build(model.hf_model, model.geometry.family).params.items()}


def _tune(model, examples, method="circuit"):
    spec = get_method(method)
    heads = choose_heads(spec, model.geometry, 3, random_scores(model), seed=0)
    tuner = build_tuner(spec, model, heads=heads)
    train(model, make_task("nusax", model.tokenizer), examples, tuner,
          TrainConfig(lr=1e-2, epochs=1, batch_size=3), progress=False)
    return tuner, heads


def test_delta_round_trip_is_exact(tiny_model, pristine, examples, tmp_path):
    tuner, heads = _tune(tiny_model, examples)
    tuned = _state(tiny_model)
    delta = compute_delta(tiny_model, tuner.mask, pristine, {"method": "circuit", "heads": heads.to_list()})
    assert sum(t.numel() for t in delta.after.values()) == tuner.mask.n_trainable
    assert 0 < delta.n_changed() <= tuner.mask.n_trainable
    save_delta(delta, tmp_path / "d")
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["heads"] == heads.to_list() and manifest["n_elements"] == tuner.mask.n_trainable
    loaded = load_delta(tmp_path / "d")
    revert_delta(tiny_model, loaded)
    assert all(torch.equal(p, pristine.values[n]) for n, p in _state(tiny_model).items())
    apply_delta(tiny_model, loaded)
    assert all(torch.equal(p, tuned[n]) for n, p in _state(tiny_model).items())
    # Applying twice: the model is no longer the base the delta was made for.
    with pytest.raises(DeltaError, match="differs from the base"):
        apply_delta(tiny_model, loaded)
    (tmp_path / "d" / "delta.safetensors").write_bytes(b"corrupt")
    with pytest.raises(DeltaError, match="SHA-256"):
        load_delta(tmp_path / "d")


def test_export_is_a_plain_hf_folder_with_the_same_predictions(tiny_model, pristine, examples, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _tune(tiny_model, examples)
    task = make_task("nusax", tiny_model.tokenizer)
    batch = task.encode(examples, tiny_model.tokenizer)
    with torch.no_grad():
        ours = label_logits(tiny_model, task, batch)
    out = export_hf(tiny_model, tmp_path / "hf")
    plain = AutoModelForCausalLM.from_pretrained(str(out), attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok.encode(" positive", add_special_tokens=False) == tiny_model.tokenizer.encode(
        " positive", add_special_tokens=False)
    with torch.no_grad():
        logits = plain(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    theirs = logits[torch.arange(len(examples)), batch.last_pos][:, list(task.label_token_ids)]
    torch.testing.assert_close(theirs, ours, rtol=1e-4, atol=1e-4)
    assert torch.equal(theirs.argmax(-1), ours.argmax(-1))
    with pytest.raises(FileExistsError):
        export_hf(tiny_model, out)


def test_snapshot_of_a_mask_only(tiny_qwen2, examples):
    from circuitlab.heads import HeadSet
    from circuitlab.tuning import ParamMask

    full = ModelSnapshot.take(tiny_qwen2)
    mask = ParamMask.for_heads(tiny_qwen2, HeadSet.of([(1, 1)]))
    small = ModelSnapshot.take(tiny_qwen2, mask)
    assert sum(v.numel() for v in small.values.values()) == mask.n_trainable
    try:
        with torch.no_grad():
            for p in tiny_qwen2.hf_model.parameters():
                p.add_(1.0)
        full.restore(tiny_qwen2)
        assert all(torch.equal(p, full.values[n]) for n, p in _state(tiny_qwen2).items())
    finally:
        full.restore(tiny_qwen2)


def test_disk_snapshot_restores_exactly(tiny_qwen2, tmp_path):
    snap = ModelSnapshot.take(tiny_qwen2, path=tmp_path / "s.safetensors")
    mem = ModelSnapshot.take(tiny_qwen2)
    assert (tmp_path / "s.safetensors").exists() and set(snap.values) == set(mem.values)
    try:
        with torch.no_grad():
            for p in tiny_qwen2.hf_model.parameters():
                p.mul_(2.0)
        snap.restore(tiny_qwen2)
        assert all(torch.equal(p, mem.values[n]) for n, p in _state(tiny_qwen2).items())
    finally:
        mem.restore(tiny_qwen2)
