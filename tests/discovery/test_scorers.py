"""Every scorer through the one interface, and the exactness claims of each."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from circuitlab.discovery import (
    SCORERS, DiscoveryError, HeadScores, HeadTarget, LogitTarget, available_scorers, get_scorer,
    label_balanced_mean,
)
from circuitlab.evaluation import iter_batches
from circuitlab.heads import Head, HeadSet
from circuitlab.tasks import label_logits, make_task, task_margin

ALL = ["directional", "cdt-unsigned", "mean-ablation", "zero-ablation", "resample-ablation", "attribution"]


@pytest.fixture(scope="module")
def qwen_setup(tiny_qwen2, mixed_examples):
    task = make_task("nusax", tiny_qwen2.tokenizer)
    mean = label_balanced_mean(tiny_qwen2, task, mixed_examples)
    return tiny_qwen2, task, mean


def test_registry_lists_every_method():
    assert set(ALL) <= set(SCORERS)
    assert all(available_scorers()[name] for name in ALL)
    with pytest.raises(DiscoveryError, match="Unknown scoring method 'nope'.*directional"):
        get_scorer("nope")
    with pytest.raises(DiscoveryError, match="Bad option for scorer 'mean-ablation'.*max_replicas"):
        get_scorer("mean-ablation", bogus=1)


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("target", ["logits", "heads"])
def test_one_interface_one_result_type(qwen_setup, mixed_examples, method, target):
    model, task, mean = qwen_setup
    tgt = LogitTarget() if target == "logits" else HeadTarget(HeadSet.of([(2, 1), (1, 3)]))
    scores = get_scorer(method).score(model, task, mixed_examples, mean=mean, target=tgt, seed=3, batch_size=4)
    assert isinstance(scores, HeadScores)
    df = scores.table
    assert list(df.columns[:9]) == ["layer", "head", "score", "rank", "method", "model", "language",
                                    "n_examples", "seed"]
    assert len(df) == model.geometry.total_heads
    assert set(df["method"]) == {method} and set(df["seed"]) == {3} and set(df["n_examples"]) == {9}
    assert sorted(df["rank"]) == list(range(1, len(df) + 1))
    t = scores.to_tensor()
    assert t.shape == (3, 4)
    if target == "logits":
        assert torch.isfinite(t).all()
    else:  # only heads below the deepest target (layer 2) can reach it
        assert torch.isfinite(t[:2]).all() and torch.isnan(t[2]).all()
        assert (df[df["layer"] == 2]["rank"] > 8).all()
    assert scores.meta["target"] == tgt.describe() and scores.meta["mean"]["pooling"] == "mean"
    if method == "cdt-unsigned":
        assert (t[torch.isfinite(t)] >= 0).all()


@pytest.mark.parametrize("method", ALL)
def test_same_seed_same_scores(qwen_setup, mixed_examples, method):
    model, task, mean = qwen_setup
    a = get_scorer(method).score(model, task, mixed_examples, mean=mean, seed=7, batch_size=4).to_tensor()
    b = get_scorer(method).score(model, task, mixed_examples, mean=mean, seed=7, batch_size=4).to_tensor()
    assert torch.equal(a, b)


def test_resample_depends_on_the_seed(qwen_setup, mixed_examples):
    model, task, mean = qwen_setup
    a = get_scorer("resample-ablation").score(model, task, mixed_examples, mean=mean, seed=1).to_tensor()
    b = get_scorer("resample-ablation").score(model, task, mixed_examples, mean=mean, seed=2).to_tensor()
    assert not torch.equal(a, b)


def _separate_forward_effect(model, task, examples, head: Head, replacement, batch_size=4):
    """margin(clean) − margin(ablated), each from its own ordinary forward pass, averaged."""
    total, n = 0.0, 0
    with torch.no_grad():
        for _, batch in iter_batches(task, model.tokenizer, examples, batch_size):
            def hook(z, hook):
                z = z.clone()
                z[:, :, head.head] = replacement
                return z

            clean = task_margin(label_logits(model, task, batch), batch.labels)
            ablated = task_margin(label_logits(model, task, batch, [(f"blocks.{head.layer}.attn.hook_z", hook)]),
                                  batch.labels)
            total += float((clean - ablated).sum())
            n += len(batch)
    return total / n


@pytest.mark.parametrize("method", ["mean-ablation", "zero-ablation"])
def test_ablation_equals_two_ordinary_forward_passes(tiny_model, mixed_examples, method):
    task = make_task("nusax", tiny_model.tokenizer)
    mean = label_balanced_mean(tiny_model, task, mixed_examples)
    scores = get_scorer(method).score(tiny_model, task, mixed_examples, mean=mean, batch_size=4).to_tensor()
    for head in (Head(0, 1), Head(1, 3), Head(2, 0)):
        repl = mean.values[head.layer, head.head] if method == "mean-ablation" else 0.0
        expected = _separate_forward_effect(tiny_model, task, mixed_examples, head, repl)
        assert scores[head.layer, head.head].item() == pytest.approx(expected, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("method", ["mean-ablation", "resample-ablation"])
@pytest.mark.parametrize("target", ["logits", "heads"])
def test_batched_ablation_equals_one_head_at_a_time(qwen_setup, mixed_examples, method, target):
    model, task, mean = qwen_setup
    tgt = LogitTarget() if target == "logits" else HeadTarget(HeadSet.of([(2, 0), (2, 3)]))
    one = get_scorer(method, max_replicas=1).score(model, task, mixed_examples, mean=mean, target=tgt, seed=5)
    many = get_scorer(method, max_replicas=4).score(model, task, mixed_examples, mean=mean, target=tgt, seed=5)
    torch.testing.assert_close(one.to_tensor(), many.to_tensor(), rtol=1e-4, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("target", ["logits", "heads"])
def test_linear_toy_directional_equals_exact_effect(linear_toy, mixed_examples, target):
    """On a model whose only non-linearities between a head and the target are its norms:

    - default rules (norms split by finite difference): the CD-T β-margin *is* the exact mean-ablation
      effect (γ is then the ablated forward pass itself);
    - ``norm_rule="frozen"``: the β-margin, the exact mean-ablation effect with the norms' scales held at
      their clean values, and gradient x (z − μ) with frozen norms are the same number for every head.
    """
    task = make_task("nusax", linear_toy.tokenizer)
    mean = label_balanced_mean(linear_toy, task, mixed_examples)
    tgt = LogitTarget() if target == "logits" else HeadTarget(HeadSet.of([(2, 1), (1, 2)]))
    kw = dict(mean=mean, target=tgt, batch_size=4)

    def run(method, **options):
        return get_scorer(method, **options).score(linear_toy, task, mixed_examples, **kw).to_tensor()

    exact = run("mean-ablation")
    assert torch.isfinite(exact).sum() >= 4 and exact[torch.isfinite(exact)].abs().max() > 1e-4
    scale = exact[torch.isfinite(exact)].abs().max().item()
    torch.testing.assert_close(run("directional"), exact, rtol=1e-3, atol=1e-4 * scale, equal_nan=True)

    frozen = run("mean-ablation", freeze_norms=True)
    scale = frozen[torch.isfinite(frozen)].abs().max().item()
    torch.testing.assert_close(run("directional", norm_rule="frozen"), frozen, rtol=1e-3, atol=1e-4 * scale,
                               equal_nan=True)
    torch.testing.assert_close(run("attribution", freeze_norms=True), frozen, rtol=1e-3, atol=1e-4 * scale,
                               equal_nan=True)


def test_linear_toy_is_not_linear_without_frozen_norms(mixed_examples):
    """Sanity check of the toy: with live norms the exact effect differs, so the test above is not vacuous."""
    from tests.discovery.conftest import make_linear_toy

    toy = make_linear_toy("tiny-gemma3")
    task = make_task("nusax", toy.tokenizer)
    mean = label_balanced_mean(toy, task, mixed_examples)
    frozen = get_scorer("mean-ablation", freeze_norms=True).score(toy, task, mixed_examples, mean=mean).to_tensor()
    live = get_scorer("mean-ablation").score(toy, task, mixed_examples, mean=mean).to_tensor()
    assert not torch.allclose(frozen, live, rtol=1e-3, atol=1e-5)


def test_errors_are_clear(qwen_setup, mixed_examples):
    model, task, mean = qwen_setup
    scorer = get_scorer("directional")
    with pytest.raises(DiscoveryError, match="discovery set is empty"):
        scorer.score(model, task, [], mean=mean)
    with pytest.raises(ValueError, match="out of range"):
        scorer.score(model, task, mixed_examples, mean=mean, target=HeadTarget(HeadSet.of([(7, 0)])))
    with pytest.raises(DiscoveryError, match="all in layer 0"):
        scorer.score(model, task, mixed_examples, mean=mean, target=HeadTarget(HeadSet.of([(0, 1)])))
    with pytest.raises(DiscoveryError, match="at least one target"):
        HeadTarget(HeadSet())
    scores = scorer.score(model, task, mixed_examples, mean=mean)
    with pytest.raises(ValueError, match="larger than the 12 heads"):
        scores.select(13)
    with pytest.raises(DiscoveryError, match="at least 2 discovery examples"):
        get_scorer("resample-ablation").score(model, task, mixed_examples[:1], mean=mean)


def test_scores_round_trip_with_metadata(qwen_setup, mixed_examples, tmp_path):
    model, task, mean = qwen_setup
    scores = get_scorer("directional").score(model, task, mixed_examples, mean=mean,
                                             target=HeadTarget(HeadSet.of([(2, 1)])))
    for suffix in (".csv", ".parquet"):
        path = scores.save(tmp_path / f"scores{suffix}")
        back = HeadScores.load(path)
        pd.testing.assert_frame_equal(back.table, scores.table, check_dtype=False)
        assert back.meta["target"] == "heads:L2H1" and back.meta["example_ids"] == [e.id for e in mixed_examples]
        torch.testing.assert_close(back.to_tensor(), scores.to_tensor(), equal_nan=True)
    chosen = scores.select(2)
    assert all(h.layer < 2 for h in chosen)  # NaN (unreachable) heads are never selected
