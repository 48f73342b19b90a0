"""The training loop: schedule, NaN guard, checkpoint and resume."""

from __future__ import annotations

import pytest
import torch

from circuitlab.heads import HeadSet
from circuitlab.tasks import make_task
from circuitlab.tuning import MaskTuner, ModelIndex, ModelSnapshot, NonFiniteLossError, ParamMask, TrainConfig, train
from circuitlab.tuning import trainer as trainer_mod
from circuitlab.tuning.trainer import CHECKPOINT_FILE, _lr_lambda, batch_order


def _tuner(model):
    return MaskTuner(ParamMask.for_heads(model, HeadSet.of([(0, 1), (2, 3)])))


def _params(model):
    return {n: p.detach().clone() for n, p in ModelIndex.build(model.hf_model, model.geometry.family).params.items()}


def test_warmup_then_linear_decay():
    f = _lr_lambda(total=10, warmup=2, schedule="linear")
    assert [round(f(s), 3) for s in range(10)] == [0.333, 0.667, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]
    g = _lr_lambda(total=10, warmup=0, schedule="constant")
    assert {g(s) for s in range(10)} == {1.0}
    with pytest.raises(ValueError, match="lr must be"):
        TrainConfig(lr=0)


def test_optimizer_is_the_fused_adamw_and_updates_like_the_reference():
    torch.manual_seed(0)
    w, v = torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(3))
    ref_w, ref_v = torch.nn.Parameter(w.detach().clone()), torch.nn.Parameter(v.detach().clone())
    config = TrainConfig(lr=1e-2, weight_decay=0.1)
    opt = trainer_mod.make_optimizer({"w": w, "v": v}, config)
    assert opt.defaults["fused"] is True  # CPU float32 has a fused kernel
    ref = torch.optim.AdamW([{"params": [ref_w], "weight_decay": 0.1}, {"params": [ref_v], "weight_decay": 0.0}],
                            lr=1e-2, betas=config.betas, eps=config.eps, foreach=False)
    for step in range(3):
        grads = torch.randn(5, 3), torch.randn(3)
        for (p, q), g in zip(((w, ref_w), (v, ref_v)), grads):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
    torch.testing.assert_close(w, ref_w, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(v, ref_v, rtol=1e-6, atol=1e-7)  # 1-D tensors: no decay in either


def test_nonfinite_loss_stops_before_the_update(tiny_qwen2, examples, tmp_path):
    model = tiny_qwen2
    snap = ModelSnapshot.take(model)
    task = make_task("nusax", model.tokenizer)
    tuner = _tuner(model)
    try:
        with pytest.raises(NonFiniteLossError) as info:
            train(model, task, examples, tuner, TrainConfig(lr=1e30, epochs=3, batch_size=3, warmup_ratio=0.0,
                                                            max_grad_norm=None),
                  checkpoint_dir=tmp_path, progress=False)
        err = info.value
        assert err.step >= 1 and "lower learning rate" in str(err) and f"step {err.step}" in str(err)
        assert err.checkpoint == tmp_path / CHECKPOINT_FILE and err.checkpoint.exists()
        state = torch.load(err.checkpoint, weights_only=False)
        assert state["step"] == err.step and len(state["losses"]) == err.step
        assert all(torch.isfinite(v).all() for v in state["trainables"].values())
        # The tuner was merged on the way out: a plain, frozen model.
        assert not any(p.requires_grad for p in model.hf_model.parameters())
        assert not tuner.installed
    finally:
        snap.restore(model)


@pytest.mark.parametrize("grouped", [False, True], ids=["random-batches", "length-grouped"])
def test_interrupted_run_resumes_to_the_same_weights(tiny_qwen2, examples, tmp_path, monkeypatch, grouped):
    model = tiny_qwen2
    snap = ModelSnapshot.take(model)
    task = make_task("nusax", model.tokenizer)
    config = TrainConfig(lr=1e-2, epochs=2, batch_size=3, seed=4, group_by_length=grouped)  # 4 steps
    try:
        full = train(model, task, examples, _tuner(model), config, progress=False)
        expected = _params(model)
        snap.restore(model)

        real_step, calls = trainer_mod.training_step, {"n": 0}

        def flaky(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return real_step(*args, **kwargs)

        monkeypatch.setattr(trainer_mod, "training_step", flaky)
        with pytest.raises(KeyboardInterrupt):
            train(model, task, examples, _tuner(model), config, checkpoint_dir=tmp_path, progress=False)
        assert torch.load(tmp_path / CHECKPOINT_FILE, weights_only=False)["step"] == 2
        monkeypatch.setattr(trainer_mod, "training_step", real_step)
        snap.restore(model)  # a new process would start from θ1 again
        resumed = train(model, task, examples, _tuner(model), config, checkpoint_dir=tmp_path, resume=True,
                        progress=False)
        assert resumed.resumed_from == 2 and resumed.steps == 4
        assert resumed.losses == pytest.approx(full.losses, abs=0)
        got = _params(model)
        assert all(torch.equal(got[n], expected[n]) for n in expected)
        assert not (tmp_path / CHECKPOINT_FILE).exists()  # removed after a successful run
        with pytest.raises(ValueError, match="config differs"):
            train(model, task, examples, _tuner(model), config, checkpoint_dir=tmp_path, checkpoint_every=1,
                  keep_checkpoint=True, progress=False)
            train(model, task, examples, _tuner(model), TrainConfig(lr=1e-3, epochs=2, batch_size=3),
                  checkpoint_dir=tmp_path, resume=True, progress=False)
    finally:
        snap.restore(model)


def test_selective_recompute_gives_the_same_gradients(tiny_model, examples):
    from circuitlab.tasks import label_logits
    from circuitlab.tuning import selective_recompute

    model = tiny_model
    task = make_task("nusax", model.tokenizer)
    batch = task.encode(examples, model.tokenizer)
    tuner = _tuner(model)
    trainables = tuner.install(model)
    grads = []
    try:
        for on in (False, True):
            with torch.enable_grad(), selective_recompute(model, on):
                torch.nn.functional.cross_entropy(label_logits(model, task, batch), batch.labels).backward()
            grads.append({k: p.grad.clone() for k, p in trainables.items()})
            for p in trainables.values():
                p.grad = None
    finally:
        tuner.merge()
    assert all(torch.equal(grads[0][k], grads[1][k]) for k in trainables)
    assert all("forward" not in b.__dict__ for b in model.bridge.blocks)  # the wrapping is gone


def test_plain_batch_order_is_the_seeded_permutation():
    config = TrainConfig(batch_size=4, seed=7)
    perm = torch.randperm(10, generator=torch.Generator().manual_seed(7 * 1000 + 1)).tolist()
    assert batch_order([0] * 10, config, epoch=1) == [perm[0:4], perm[4:8], perm[8:10]]


def _padded_tokens(batches, lengths):
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_length_grouped_batches_cover_every_example_once_with_less_padding():
    lengths = [int(x) for x in torch.randint(5, 128, (250,), generator=torch.Generator().manual_seed(0))]
    plain, grouped = TrainConfig(batch_size=16, seed=3), TrainConfig(batch_size=16, seed=3, group_by_length=True)
    assert len(lengths) < 16 * trainer_mod.MEGABATCH  # one mega-batch: every batch a run of the length order
    for epoch in range(2):
        batches = batch_order(lengths, grouped, epoch)
        assert sorted(i for b in batches for i in b) == list(range(250))
        assert sorted(map(len, batches)) == [10] + [16] * 15
        spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in batches)
        assert all(hi <= lo_next for (_, hi), (lo_next, _) in zip(spans, spans[1:]))  # batches do not interleave
        assert _padded_tokens(batches, lengths) < 0.7 * _padded_tokens(batch_order(lengths, plain, epoch), lengths)
        assert batches == batch_order(lengths, grouped, epoch)  # a function of seed, epoch and lengths
    assert batch_order(lengths, grouped, 0) != batch_order(lengths, grouped, 1)  # the batches' order is shuffled


def test_length_grouping_sorts_within_each_mega_batch_only():
    lengths = [int(x) for x in torch.randint(5, 128, (250,), generator=torch.Generator().manual_seed(1))]
    config = TrainConfig(batch_size=2, seed=5, group_by_length=True)  # mega-batches of 100: 100, 100, 50
    mega = 2 * trainer_mod.MEGABATCH
    perm = torch.randperm(250, generator=torch.Generator().manual_seed(5 * 1000)).tolist()
    chunk_of = {i: pos // mega for pos, i in enumerate(perm)}
    batches = batch_order(lengths, config, 0)
    assert len(batches) == 125 and sorted(i for b in batches for i in b) == list(range(250))
    assert all(len({chunk_of[i] for i in b}) == 1 for b in batches)  # a batch never mixes mega-batches
    for c in range(3):
        mine = [b for b in batches if chunk_of[b[0]] == c]
        spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in mine)
        assert all(hi <= lo_next for (_, hi), (lo_next, _) in zip(spans, spans[1:]))


def test_length_grouping_is_left_out_of_saved_configs_at_its_default():
    assert "group_by_length" not in TrainConfig().to_dict()  # θ1 cache keys and resumable folders stay valid
    on = TrainConfig(group_by_length=True)
    assert on.to_dict()["group_by_length"] is True and TrainConfig.from_dict(on.to_dict()) == on
    from circuitlab.tuning import ProxyConfig

    assert "group_by_length" not in ProxyConfig().to_dict()["train"]
    assert ProxyConfig(train=on).to_dict()["train"]["group_by_length"] is True


def test_training_uses_the_length_grouped_batches(tiny_qwen2, examples, monkeypatch):
    model = tiny_qwen2
    snap = ModelSnapshot.take(model)
    task = make_task("nusax", model.tokenizer)
    config = TrainConfig(lr=1e-3, epochs=2, batch_size=2, seed=1, group_by_length=True)
    lengths = trainer_mod.token_lengths(task, model.tokenizer, examples, config.max_length)
    assert len(set(lengths)) > 2
    seen, real_step = [], trainer_mod.training_step

    def spy(model_, task_, batch, *args, **kwargs):
        seen.append(batch.input_ids.shape[1])
        return real_step(model_, task_, batch, *args, **kwargs)

    monkeypatch.setattr(trainer_mod, "training_step", spy)
    try:
        train(model, task, examples, _tuner(model), config, progress=False)
    finally:
        snap.restore(model)
    expected = [max(lengths[i] for i in b) for e in range(2) for b in batch_order(lengths, config, e)]
    assert seen == expected
