"""Head attribution on the gold continuation's log-likelihood equals its finite difference."""

from __future__ import annotations

import pytest
import torch

from circuitlab.generation import TranslationPair, TranslationTask, head_means, response_loglik, sequence_head_scores
from circuitlab.generation.discovery import _Capture
from circuitlab.generation.translation import collate, pad_id

PAIRS = [TranslationPair(str(i), f"aku seneng {i} banget", f"i like it {i}", "javanese", "english") for i in range(5)]


def _mean_ll(model, rows, layer, head, mu, eps, batch_size):
    """Mean response log-likelihood with head (layer, head) moved eps of the way to its mean."""
    def edit(at, z):
        if at != layer:
            return z
        zz = z.reshape(*z.shape[:-1], model.geometry.n_heads, -1).clone()
        zz[..., head, :] += eps * (mu[layer, head] - zz[..., head, :])
        return zz.reshape(z.shape)

    total = 0.0
    with torch.no_grad(), _Capture(model) as cap:
        cap.edit = edit
        for i in range(0, len(rows), batch_size):
            total += float(response_loglik(model.hf_model, collate(rows[i:i + batch_size], pad_id(model.tokenizer), side="left")).sum())
    return total / len(rows)


@pytest.mark.parametrize("name", ["tiny-gpt2", "tiny-llama"])
def test_scores_are_the_derivative_of_mean_ablation(name):
    from circuitlab.models import load_model

    model = load_model(name, dtype=torch.float64)
    rows = TranslationTask().encode(model.tokenizer, PAIRS, 64)
    flags = [p.requires_grad for p in model.hf_model.parameters()]
    scores = sequence_head_scores(model, rows, batch_size=2)
    g = model.geometry
    assert scores.shape == (g.n_layers, g.n_heads) and torch.isfinite(scores).all()
    mu = head_means(model, rows, batch_size=2).double()
    for layer, head in [(0, 1), (g.n_layers - 1, g.n_heads - 1), (1, 0)]:
        eps = 1e-2  # central difference: the drop in LL per unit of the way to the mean
        fd = (_mean_ll(model, rows, layer, head, mu, -eps, 2) - _mean_ll(model, rows, layer, head, mu, eps, 2)) / (2 * eps)
        assert float(scores[layer, head]) == pytest.approx(fd, rel=2e-3, abs=1e-6)
    assert [p.requires_grad for p in model.hf_model.parameters()] == flags  # restored


def test_scores_do_not_depend_on_batching(tiny_qwen2):
    rows = TranslationTask().encode(tiny_qwen2.tokenizer, PAIRS, 64)
    mu = head_means(tiny_qwen2, rows, batch_size=5)
    a = sequence_head_scores(tiny_qwen2, rows, batch_size=1, means=mu)
    b = sequence_head_scores(tiny_qwen2, rows, batch_size=5, means=mu)
    torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


DIVERSE = [TranslationPair(str(i), s, r, "javanese", "english") for i, (s, r) in enumerate([
    ("aku seneng banget", "i like it a lot"), ("apik", "good"),
    ("wong iku ora seneng mangan", "that person does not like to eat"),
    ("panganane enak", "the food is delicious"), ("hotel iki reged", "this hotel is dirty")])]


def test_directional_totals_are_the_exact_loglik(tiny_model):
    """The decomposition's clean total of the one "label" is each row's summed response log-likelihood."""
    from circuitlab.generation import sequence_directional_scores

    rows = TranslationTask().encode(tiny_model.tokenizer, DIVERSE, 64)
    scores, totals = sequence_directional_scores(tiny_model, rows, batch_size=2, return_totals=True)
    g = tiny_model.geometry
    assert scores.shape == (g.n_layers, g.n_heads) and torch.isfinite(scores).all()
    with torch.no_grad():
        ll = response_loglik(tiny_model.hf_model, collate(rows, pad_id(tiny_model.tokenizer), side="left"))
    torch.testing.assert_close(totals, ll, rtol=1e-4, atol=1e-3)


def test_directional_ranks_heads_like_exact_mean_ablation(tiny_model):
    """β_s(LL) predicts the measured drop of LL when head s is mean-ablated (Spearman ≥ 0.75 over all heads;
    measured 0.84-1.0 on the four tiny families)."""
    from scipy.stats import spearmanr

    from circuitlab.generation import sequence_directional_scores

    rows = TranslationTask().encode(tiny_model.tokenizer, DIVERSE, 64)
    mu = head_means(tiny_model, rows)
    scores = sequence_directional_scores(tiny_model, rows, batch_size=2, means=mu)
    g = tiny_model.geometry
    clean = _mean_ll(tiny_model, rows, 0, 0, mu, 0.0, 5)
    drop = torch.tensor([[clean - _mean_ll(tiny_model, rows, layer, head, mu, 1.0, 5) for head in range(g.n_heads)]
                         for layer in range(g.n_layers)])
    assert spearmanr(scores.flatten(), drop.flatten())[0] >= 0.75
