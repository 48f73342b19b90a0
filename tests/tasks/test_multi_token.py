"""Multi-token verbalizers: exact summed log-probs, batched, and the same scores everywhere they are read."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from circuitlab.data.types import Example
from circuitlab.evaluation import evaluate
from circuitlab.tasks import ClassificationTask, TaskError, label_scores, task_margin

# Javanese labels, several tokens each for the tiny models' tokenizer (and no one a prefix of another).
NATIVE = {"negative": " ala", "neutral": " biasa saja", "positive": " apik"}
TEMPLATE = "Ukara: {text}\nRasa:"
EXAMPLES = [
    Example("1", "Aku seneng banget karo panganan iki", "positive", "javanese"),
    Example("2", "Elek", "negative", "javanese"),
    Example("3", "Hotel iki ana ing tengah kutha cedhak stasiun", "neutral", "javanese"),
    Example("4", "Pelayane ora ramah", "negative", "javanese"),
]


def _task(model, verbalizers=NATIVE) -> ClassificationTask:
    return ClassificationTask.build("native", TEMPLATE, verbalizers, model.tokenizer)


def _reference(model, task, example) -> list[float]:
    """Each label's summed log-prob from a full, unbatched forward pass per label (full-vocab logits)."""
    tok = model.tokenizer
    prompt = tok(task.render(example), add_special_tokens=True)["input_ids"]
    out = []
    for tokens in task.label_tokens:
        ids = torch.tensor([prompt + list(tokens)])
        with torch.no_grad():
            logp = F.log_softmax(model.bridge(ids).float(), -1)[0]
        out.append(sum(float(logp[len(prompt) - 1 + j, t]) for j, t in enumerate(tokens)))
    return out


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_sequence_scores_are_exact_summed_log_probs(tiny_model, padding_side):
    task = _task(tiny_model)
    assert task.sequence_scoring and [len(t) for t in task.label_tokens] != [1, 1, 1]
    batch = task.encode(EXAMPLES, tiny_model.tokenizer, padding_side=padding_side)
    assert batch.input_ids.shape[0] == len(EXAMPLES) * 3 and batch.n_examples == len(EXAMPLES)
    with torch.no_grad():
        ours = label_scores(tiny_model, task, batch)
    ref = torch.tensor([_reference(tiny_model, task, e) for e in EXAMPLES])
    torch.testing.assert_close(ours.float(), ref, atol=1e-4, rtol=1e-4)


def test_single_token_fast_path_and_sequence_path_agree(tiny_model):
    fast = _task(tiny_model, {"negative": " negative", "neutral": " neutral", "positive": " positive"})
    assert fast.single_token and not fast.sequence_scoring
    slow = dataclasses.replace(fast, sequence_scoring=True)
    labels = torch.tensor([fast.label_index(e.label) for e in EXAMPLES])
    with torch.no_grad():
        a = label_scores(tiny_model, fast, fast.encode(EXAMPLES, tiny_model.tokenizer))
        b = label_scores(tiny_model, slow, slow.encode(EXAMPLES, tiny_model.tokenizer))
    # Log-probs are the logits minus one log-normaliser per example: margins and softmax agree exactly.
    torch.testing.assert_close(task_margin(a, labels), task_margin(b, labels), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(a.softmax(-1), b.softmax(-1), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(a, b)  # the paths really differ (logits vs log-probs)


def test_evaluate_and_training_loss_use_the_sequence_scores(tiny_qwen2):
    task = _task(tiny_qwen2)
    res = evaluate(tiny_qwen2, task, EXAMPLES, batch_size=3, progress=False, keep_logits=True)
    ref = torch.tensor([_reference(tiny_qwen2, task, e) for e in EXAMPLES])
    torch.testing.assert_close(res.logits, ref, atol=1e-4, rtol=1e-4)
    assert res.predictions == [task.labels[i] for i in ref.argmax(-1).tolist()]

    from circuitlab.tuning.trainer import training_step

    params = [p for p in tiny_qwen2.hf_model.parameters()]
    saved = [p.detach().clone() for p in params]
    batch = task.encode(EXAMPLES, tiny_qwen2.tokenizer)
    opt = torch.optim.SGD(params, lr=0.0)
    with torch.enable_grad():
        loss = training_step(tiny_qwen2, task, batch, params, opt, max_grad_norm=None)
    expected = F.cross_entropy(ref, torch.tensor([task.label_index(e.label) for e in EXAMPLES]))
    assert loss == pytest.approx(float(expected), abs=1e-4)
    for p, s in zip(params, saved):
        p.data.copy_(s)


def test_truncated_prompts_keep_every_label_token(tiny_qwen2):
    task = _task(tiny_qwen2)
    long = Example("x", "kata " * 200, "neutral", "javanese")
    batch = task.encode([long], tiny_qwen2.tokenizer, max_length=32)
    for r, tokens in enumerate(task.label_tokens):
        n = len(tokens)
        assert batch.input_ids[r, 32 : 32 + n].tolist() == list(tokens)
        assert batch.reads.tokens[r, :n].tolist() == list(tokens)
        assert batch.reads.positions[r, :n].tolist() == list(range(31, 31 + n))


@pytest.mark.parametrize(("verbalizers", "message"), [
    ({"negative": " ala", "positive": " ala banget"}, "token prefix"),
    ({"negative": " ala", "positive": " ala"}, "same tokens"),
    ({"negative": "", "positive": " apik"}, "empty"),
    ({"positive": " apik"}, "at least two labels"),
])
def test_bad_verbalizers_say_what_to_fix(tiny_qwen2, verbalizers, message):
    with pytest.raises(TaskError, match=message):
        _task(tiny_qwen2, verbalizers)


@pytest.mark.parametrize(("template", "message"), [
    ("Review:\nSentiment:", r"no \{text\} placeholder"),
    ("{text} {stars}:", "unknown placeholders"),
    ("{text} {:", "not a valid format string"),
])
def test_bad_templates_say_what_to_fix(tiny_qwen2, template, message):
    with pytest.raises(TaskError, match=message):
        ClassificationTask.build("t", template, NATIVE, tiny_qwen2.tokenizer)
