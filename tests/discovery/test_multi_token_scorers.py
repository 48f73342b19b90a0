"""Discovery on multi-token verbalizers: every scorer reads the summed label log-probs.

Two checks per scorer: a single-token task forced onto the multi-token path scores
every head as the label-row fast path does (the log-normaliser cancels in the margin),
and on genuinely multi-token labels the scores track exact mean ablation.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from circuitlab.data.types import Example
from circuitlab.discovery import get_scorer, label_balanced_mean
from circuitlab.discovery.errors import DiscoveryError
from circuitlab.tasks import ClassificationTask

TEMPLATE = "Ukara: {text}\nRasa:"
ENGLISH = {"negative": " negative", "neutral": " neutral", "positive": " positive"}
NATIVE = {"negative": " ala", "neutral": " biasa saja", "positive": " apik"}
EXAMPLES = [
    Example("1", "Aku seneng banget karo panganan iki", "positive", "javanese"),
    Example("2", "Elek", "negative", "javanese"),
    Example("3", "Hotel iki ana ing tengah kutha cedhak stasiun", "neutral", "javanese"),
    Example("4", "Pelayane ora ramah", "negative", "javanese"),
    Example("5", "Panganane enak", "positive", "javanese"),
    Example("6", "Aku mangan sega", "neutral", "javanese"),
]
SCORERS = ["directional", "cdt-unsigned", "attribution", "mean-ablation", "zero-ablation"]


def _scores(model, task, name, mean, **options):
    return get_scorer(name, **options).score(model, task, EXAMPLES, mean=mean, batch_size=4).to_tensor()


@pytest.mark.parametrize("name", SCORERS)
def test_sequence_path_matches_the_label_row_fast_path(tiny_model, name):
    fast = ClassificationTask.build("t", TEMPLATE, ENGLISH, tiny_model.tokenizer)
    slow = dataclasses.replace(fast, sequence_scoring=True)
    mean = label_balanced_mean(tiny_model, fast, EXAMPLES)
    a, b = _scores(tiny_model, fast, name, mean), _scores(tiny_model, slow, name, mean)
    if name == "cdt-unsigned":  # |β|/|γ| over label scores: not invariant to the per-example constant
        assert torch.isfinite(b).all() and (b >= 0).all()
        return
    torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-3)


def test_multi_token_directional_and_attribution_track_mean_ablation(tiny_qwen2):
    task = ClassificationTask.build("native", TEMPLATE, NATIVE, tiny_qwen2.tokenizer)
    assert task.sequence_scoring
    mean = label_balanced_mean(tiny_qwen2, task, EXAMPLES)
    exact = _scores(tiny_qwen2, task, "mean-ablation", mean).flatten()
    assert exact.abs().max() > 1e-3  # heads do move the native label scores
    for name in ("directional", "attribution"):
        approx = _scores(tiny_qwen2, task, name, mean).flatten()
        corr = torch.corrcoef(torch.stack([exact, approx]))[0, 1]
        assert corr > 0.8, (name, float(corr))


def test_multi_token_mean_ablation_is_the_exact_change_of_the_margin(tiny_qwen2):
    from circuitlab.discovery.faithfulness import _metrics
    from circuitlab.evaluation.evaluate import iter_batches

    task = ClassificationTask.build("native", TEMPLATE, NATIVE, tiny_qwen2.tokenizer)
    mean = label_balanced_mean(tiny_qwen2, task, EXAMPLES)
    scores = _scores(tiny_qwen2, task, "mean-ablation", mean)
    batches = list(iter_batches(task, tiny_qwen2.tokenizer, EXAMPLES, 4))
    clean = _metrics(tiny_qwen2, task, batches, [])

    layer, head = 1, 2

    def ablate(z, hook):
        z = z.clone()
        z[..., head, :] = mean.values[layer, head]
        return z

    ablated = _metrics(tiny_qwen2, task, batches, [(f"blocks.{layer}.attn.hook_z", ablate)])
    assert float(scores[layer, head]) == pytest.approx(clean.margin - ablated.margin, abs=1e-4)


def test_resample_ablation_refuses_multi_token_labels(tiny_qwen2):
    task = ClassificationTask.build("native", TEMPLATE, NATIVE, tiny_qwen2.tokenizer)
    with pytest.raises(DiscoveryError, match="multi-token"):
        get_scorer("resample-ablation").score(tiny_qwen2, task, EXAMPLES)
