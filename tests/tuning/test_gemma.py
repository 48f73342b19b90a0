"""The embedded Gemma-3-270M (slow): head-slice sizes under its GQA, and one exact training step per kind."""

from __future__ import annotations

import pytest
import torch

from circuitlab.heads import HeadSet
from circuitlab.tasks import make_task
from circuitlab.tuning import KVRule, LoraTuner, MaskTuner, ModelSnapshot, ParamMask, TrainConfig, train

from ._tuning_helpers import assert_exact_outside, changed_blocks

pytestmark = pytest.mark.slow

HEADS = HeadSet.of([(1, 0), (3, 2), (5, 1), (7, 3), (9, 0), (11, 2), (13, 1), (16, 3)])


def test_gemma_head_mask_sizes(gemma):
    g = gemma.geometry
    assert (g.n_layers, g.n_heads, g.n_kv_heads, g.d_head, g.d_model) == (18, 4, 1, 256, 640)
    mask = ParamMask.for_heads(gemma, HEADS, KVRule.ANY)
    norms = ParamMask.for_norms(gemma)
    # Q and O slices: 256 x 640 each per head; the single K/V head of each touched layer: 2 x 256 x 640.
    per_head, per_layer_kv = 2 * 256 * 640, 2 * 256 * 640
    assert norms.n_trainable == 18 * (4 * 640 + 2 * 256) + 640
    assert mask.n_trainable == 8 * per_head + 8 * per_layer_kv + norms.n_trainable
    assert mask.total == 268_098_176
    none = ParamMask.for_heads(gemma, HEADS, KVRule.NONE)
    assert none.n_trainable == mask.n_trainable - 8 * per_layer_kv
    assert 0.01 < mask.fraction < 0.02


@pytest.mark.parametrize("kind", ["circuit", "lora"])
def test_gemma_one_exact_step(gemma, examples, kind):
    snap = ModelSnapshot.take(gemma)
    task = make_task("nusax", gemma.tokenizer)
    tuner = MaskTuner(ParamMask.for_heads(gemma, HEADS)) if kind == "circuit" else LoraTuner()
    torch.manual_seed(0)
    try:
        res = train(gemma, task, examples[:4], tuner, TrainConfig(lr=1e-3, epochs=1, batch_size=4, warmup_ratio=0.0,
                                                                   weight_decay=0.1), progress=False)
        assert res.steps == 1 and res.losses[0] == res.losses[0]
        assert_exact_outside(gemma, snap, tuner.mask)
        changed = changed_blocks(gemma, snap, tuner.mask)
        assert all(changed.values()), [k for k, v in changed.items() if not v]
    finally:
        snap.restore(gemma)
