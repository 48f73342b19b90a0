"""Every registered method on every tiny family: exact masking, even with weight decay.

One table: a method registered in ``circuitlab.tuning.METHODS`` is tested here the
moment it exists.
"""

from __future__ import annotations

import pytest
import torch

from circuitlab.tuning import METHODS, ModelIndex, TrainConfig, build_tuner, choose_heads, get_method, train
from circuitlab.tuning.trainer import make_optimizer, training_step

from ._tuning_helpers import assert_exact_outside, changed_blocks, random_scores

# High learning rate and strong decay, so anything decay or a stray gradient could move does move.
CONFIG = TrainConfig(lr=1e-2, epochs=1, batch_size=3, weight_decay=0.5, warmup_ratio=0.0, seed=3)


def _tuner(method, model, seed=1):
    spec = get_method(method)
    heads = choose_heads(spec, model.geometry, 3, random_scores(model), seed=seed)
    torch.manual_seed(seed)
    return build_tuner(spec, model, heads=heads), heads


@pytest.mark.parametrize("method", sorted(METHODS))
def test_training_is_exact_outside_the_mask(tiny_model, pristine, examples, method):
    from circuitlab.tasks import make_task

    task = make_task("nusax", tiny_model.tokenizer)
    tuner, heads = _tuner(method, tiny_model)
    result = train(tiny_model, task, examples, tuner, CONFIG, progress=False)
    assert result.steps == 2 and all(torch.isfinite(torch.tensor(result.losses)))
    mask = tuner.mask
    assert_exact_outside(tiny_model, pristine, mask)
    changed = changed_blocks(tiny_model, pristine, mask)
    assert all(changed.values()), f"masked blocks that did not change: {[k for k, v in changed.items() if not v]}"
    # The model is plain again: no sliced or LoRA module left, nothing requires grad.
    assert not any(type(m).__name__ in ("SlicedProjection",) or "lora" in type(m).__module__
                   for m in tiny_model.hf_model.modules())
    assert not any(p.requires_grad for p in tiny_model.hf_model.parameters())
    if get_method(method).uses_heads:
        assert mask.info["heads"] == heads.to_list()
        assert result.n_trainable == mask.n_trainable
    if method in ("full", "direct"):
        assert mask.fraction == 1.0


@pytest.mark.parametrize("method", sorted(METHODS))
def test_only_trainable_tensors_get_gradients_and_optimizer_state(tiny_qwen2, examples, method):
    from circuitlab.tasks import make_task
    from circuitlab.tuning import ModelSnapshot

    model = tiny_qwen2
    snap = ModelSnapshot.take(model)
    task = make_task("nusax", model.tokenizer)
    tuner, _ = _tuner(method, model)
    trainables = tuner.install(model)
    try:
        ids = {id(p) for p in trainables.values()}
        requiring = [p for p in model.hf_model.parameters() if p.requires_grad]
        assert {id(p) for p in requiring} == ids
        opt = make_optimizer(trainables, CONFIG)
        batch = task.encode(examples[:3], model.tokenizer)
        with torch.enable_grad():
            training_step(model, task, batch, list(trainables.values()), opt, None, 1.0)
        assert {id(p) for p in opt.state} <= ids
        state_elems = sum(v.numel() for s in opt.state.values() for v in s.values() if v.ndim > 0)
        assert state_elems == 2 * sum(p.numel() for p in trainables.values())
    finally:
        tuner.merge()
        snap.restore(model)


def test_backward_stops_at_the_lowest_trainable_layer(tiny_qwen2, examples):
    """Heads in the last layer only, no norms: earlier blocks carry no autograd graph at all."""
    from circuitlab.heads import HeadSet
    from circuitlab.tasks import label_logits, make_task
    from circuitlab.tuning import MaskTuner, ParamMask

    model = tiny_qwen2
    task = make_task("nusax", model.tokenizer)
    last = model.geometry.n_layers - 1
    tuner = MaskTuner(ParamMask.for_heads(model, HeadSet.of([(last, 1)]), norms=False))
    assert tuner.mask.lowest_layer() == last
    tuner.install(model)
    seen = {}
    hooks = [(f"blocks.{layer}.hook_out", lambda x, hook: seen.__setitem__(hook.name, x.requires_grad))
             for layer in range(model.geometry.n_layers)]
    try:
        with torch.enable_grad():
            logits = label_logits(model, task, task.encode(examples[:2], model.tokenizer), fwd_hooks=hooks)
            logits.sum().backward()
    finally:
        tuner.merge()
    assert seen == {f"blocks.{layer}.hook_out": layer >= last for layer in range(model.geometry.n_layers)}


def test_registry_rejects_unknown_and_head_methods_need_scores(tiny_qwen2):
    with pytest.raises(ValueError, match="Unknown tuning method"):
        get_method("nope")
    with pytest.raises(ValueError, match="needs a head-score table"):
        choose_heads(get_method("circuit"), tiny_qwen2.geometry, 2, None)
    heads = choose_heads(get_method("random"), tiny_qwen2.geometry, 2, None, seed=5)
    assert len(heads) == 2 and heads == choose_heads(get_method("random"), tiny_qwen2.geometry, 2, None, seed=5)
    scores = random_scores(tiny_qwen2)
    top = choose_heads(get_method("circuit"), tiny_qwen2.geometry, 2, scores)
    t = scores.to_tensor()
    assert {t[h.layer, h.head].item() for h in top} == set(t.flatten().topk(2).values.tolist())
    index = ModelIndex.build(tiny_qwen2.hf_model, "qwen2")
    assert index.n_params() == sum(p.numel() for p in tiny_qwen2.hf_model.parameters())


def test_training_step_phase_timings_leave_the_update_unchanged(tiny_qwen2, examples):
    """``phases`` records forward/backward/update once per step; with or without it the weights agree bit for bit."""
    from circuitlab.tasks import make_task
    from circuitlab.tuning import ModelSnapshot

    model = tiny_qwen2
    task = make_task("nusax", model.tokenizer)
    batch = task.encode(examples[:3], model.tokenizer)
    snap = ModelSnapshot.take(model)
    results = []
    for phases in (None, {}):
        tuner, _ = _tuner("circuit", model)
        trainables = tuner.install(model)
        opt = make_optimizer(trainables, CONFIG)
        try:
            with torch.enable_grad():
                losses = [training_step(model, task, batch, list(trainables.values()), opt, None, 1.0,
                                        phases=phases) for _ in range(2)]
        finally:
            tuner.merge()
        results.append((losses, {k: v.clone() for k, v in model.hf_model.state_dict().items()}, phases))
        snap.restore(model)
    (plain_losses, plain_state, _), (timed_losses, timed_state, phases) = results
    assert plain_losses == timed_losses and plain_losses[0] != plain_losses[1]
    assert all(torch.equal(plain_state[k], timed_state[k]) for k in plain_state)
    assert set(phases) == {"forward", "backward", "update"}
    assert all(len(v) == 2 and all(t > 0 for t in v) for v in phases.values())
