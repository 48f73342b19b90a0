"""ResponseLossTrainer: the LM head on response rows only gives the model's own loss and gradients."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainingArguments

from circuitlab.generation import TranslationPair, TranslationTask
from circuitlab.generation.loss import ResponseLossTrainer
from circuitlab.generation.translation import Collator

PAIRS = [TranslationPair("1", "aku seneng banget", "i like it a lot", "javanese", "english"),
         TranslationPair("2", "apik", "good", "javanese", "english"),
         TranslationPair("3", "wong iku ora seneng mangan", "that person does not like to eat", "javanese", "english")]


def _loss_and_grads(model, loss_fn):
    model.zero_grad()
    loss = loss_fn()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_response_only_logits_match_the_full_loss(tiny_model, tmp_path):
    hf, tok = tiny_model.hf_model, tiny_model.tokenizer
    hf.eval()  # no dropout (tiny GPT-2 has it), so the two forwards are comparable
    batch = Collator(tok)(TranslationTask().encode(tok, PAIRS, 64))
    n = int((batch["labels"][:, 1:] != -100).sum())
    assert 0 < n < batch["labels"][:, 1:].numel()  # padding and prompts are excluded
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = ResponseLossTrainer(model=hf, args=args)
    full, g_full = _loss_and_grads(hf, lambda: hf(**batch).loss)
    ours, g_ours = _loss_and_grads(hf, lambda: trainer.compute_loss(hf, dict(batch)))
    assert ours == pytest.approx(float(full), rel=1e-5)
    assert g_ours.keys() == g_full.keys()
    for name, g in g_full.items():
        torch.testing.assert_close(g_ours[name], g, rtol=1e-4, atol=1e-6, msg=name)
    # with num_items_in_batch (gradient accumulation) the sum is divided by the total count
    with torch.no_grad():
        twice = trainer.compute_loss(hf, dict(batch), num_items_in_batch=2 * n)
    assert float(twice) == pytest.approx(float(full) / 2, rel=1e-5)


def test_response_loss_checks_that_the_hook_ran():
    from types import SimpleNamespace

    from circuitlab.generation.loss import response_loss

    labels = torch.tensor([[-100, 3, 4]])
    with pytest.raises(RuntimeError, match="hook did not run"):
        response_loss(SimpleNamespace(logits=torch.zeros(1, 3, 10)), labels)
