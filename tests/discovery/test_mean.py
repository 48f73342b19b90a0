"""The label-balanced mean of every head's hook_z, and how positions are pooled."""

from __future__ import annotations

import pytest
import torch

from circuitlab.discovery import POOLINGS, DiscoveryError, label_balanced_mean
from circuitlab.discovery.runs import clean_pass
from circuitlab.tasks import make_task


def _manual(model, task, examples, pooling):
    """Per-example pooled z, averaged within labels, then across labels (one example at a time, no padding)."""
    per_label: dict[str, list[tuple[torch.Tensor, float]]] = {}
    g = model.geometry
    for ex in examples:
        batch = task.encode([ex], model.tokenizer)
        run = clean_pass(model, batch, capture=[f"blocks.{l}.attn.hook_z" for l in range(g.n_layers)], layers=[])
        z = torch.stack([run.acts[f"blocks.{l}.attn.hook_z"][0] for l in range(g.n_layers)])  # [L, T, H, dh]
        if pooling == "last":
            v, w = z[:, -1], 1.0
        else:
            v, w = z.mean(1), (float(z.shape[1]) if pooling == "tokens" else 1.0)
        per_label.setdefault(ex.label, []).append((v, w))
    means = [sum(v * w for v, w in vs) / sum(w for _, w in vs) for vs in per_label.values()]
    return torch.stack(means).mean(0)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_mean_is_label_balanced_and_ignores_padding(tiny_qwen2, mixed_examples, pooling, padding_side):
    task = make_task("nusax", tiny_qwen2.tokenizer)
    examples = mixed_examples[:7]  # 3 positive, 2 negative, 2 neutral: unbalanced on purpose
    mean = label_balanced_mean(tiny_qwen2, task, examples, pooling=pooling, batch_size=3,
                               padding_side=padding_side)
    assert mean.values.shape == (3, 4, 8) and mean.pooling == pooling and mean.n_examples == 7
    torch.testing.assert_close(mean.values, _manual(tiny_qwen2, task, examples, pooling), rtol=1e-5, atol=1e-6)


def test_poolings_differ_and_bad_input_fails(tiny_qwen2, mixed_examples):
    task = make_task("nusax", tiny_qwen2.tokenizer)
    a = label_balanced_mean(tiny_qwen2, task, mixed_examples, pooling="mean").values
    b = label_balanced_mean(tiny_qwen2, task, mixed_examples, pooling="last").values
    assert not torch.allclose(a, b)
    with pytest.raises(DiscoveryError, match="empty discovery set"):
        label_balanced_mean(tiny_qwen2, task, [])
    with pytest.raises(DiscoveryError, match="Unknown pooling 'max'"):
        label_balanced_mean(tiny_qwen2, task, mixed_examples, pooling="max")
