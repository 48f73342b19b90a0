"""The label-token task: single-token fast path, restricted logits and padding-invariant predictions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import torch

from circuitlab.data.types import Example
from circuitlab.evaluation import evaluate
from circuitlab.tasks import ClassificationTask, TaskError, label_logits, make_task, task_margin

EXAMPLES = [
    Example("1", "Saya senang sekali dengan makanan ini", "positive", "indonesian"),
    Example("2", "Buruk", "negative", "indonesian"),
    Example("3", "Hotel ini berada di pusat kota dekat stasiun kereta api", "neutral", "indonesian"),
    Example("4", "Pelayannya tidak ramah", "negative", "indonesian"),
]


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_restricted_logits_equal_full_logits(tiny_model, padding_side):
    task = make_task("nusax", tiny_model.tokenizer)
    batch = task.encode(EXAMPLES, tiny_model.tokenizer, padding_side=padding_side)
    with torch.no_grad():
        ours = label_logits(tiny_model, task, batch)
        full = tiny_model.bridge(batch.input_ids, attention_mask=batch.attention_mask)
    ref = full[torch.arange(len(EXAMPLES)), batch.last_pos][:, list(task.label_token_ids)]
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_padding_side_does_not_change_predictions(tiny_model):
    task = make_task("nusax", tiny_model.tokenizer)
    right = label_logits(tiny_model, task, task.encode(EXAMPLES, tiny_model.tokenizer, padding_side="right"))
    left = label_logits(tiny_model, task, task.encode(EXAMPLES, tiny_model.tokenizer, padding_side="left"))
    torch.testing.assert_close(left, right, atol=1e-5, rtol=1e-5)
    single = torch.cat([label_logits(tiny_model, task, task.encode([e], tiny_model.tokenizer)) for e in EXAMPLES])
    torch.testing.assert_close(single, right, atol=1e-5, rtol=1e-5)


@contextlib.contextmanager
def _last_mlp_widths(model) -> Iterator[list[int]]:
    """Records the sequence width the last block's MLP module receives (a torch hook, not a TL one)."""
    widths: list[int] = []
    handle = model.bridge.blocks[-1].mlp.register_forward_pre_hook(
        lambda mod, args: widths.append(args[0].shape[1]))
    try:
        yield widths
    finally:
        handle.remove()


def _identity(x, hook):
    return x


def test_last_block_mlp_runs_at_the_prediction_row_only(tiny_model):
    task = make_task("nusax", tiny_model.tokenizer)
    batch = task.encode(EXAMPLES, tiny_model.tokenizer)
    last = len(tiny_model.bridge.blocks) - 1
    with _last_mlp_widths(tiny_model) as widths, torch.no_grad():
        trimmed = label_logits(tiny_model, task, batch)
        assert widths == [1]
        # A hook on the attention side keeps the trim; one on the MLP side, on the final norm or a
        # filter function (which could match anything) sees every position, with the same logits.
        label_logits(tiny_model, task, batch, [(f"blocks.{last}.attn.hook_z", _identity)])
        assert widths == [1, 1]
        for name in (f"blocks.{last}.hook_mlp_out", f"blocks.{last}.ln2.hook_in", "ln_final.hook_in",
                     lambda name: name.endswith("hook_resid_post")):
            whole = label_logits(tiny_model, task, batch, [(name, _identity)])
            assert widths[-1] == batch.input_ids.shape[1]
            torch.testing.assert_close(whole, trimmed, atol=1e-5, rtol=1e-5)


def test_training_runs_the_whole_last_block(tiny_model):
    """With gradients the block runs whole: recomputation re-runs it in backward without any hook,
    and a step's gradients must stay bit-identical with and without recomputation."""
    task = make_task("nusax", tiny_model.tokenizer)
    batch = task.encode(EXAMPLES, tiny_model.tokenizer)
    with _last_mlp_widths(tiny_model) as widths:
        with torch.enable_grad():
            label_logits(tiny_model, task, batch)
        with torch.inference_mode():
            label_logits(tiny_model, task, batch)
    assert widths == [batch.input_ids.shape[1], 1]


def test_last_pos_points_at_last_real_token(tiny_qwen2):
    task = make_task("nusax", tiny_qwen2.tokenizer)
    for side in ("left", "right"):
        b = task.encode(EXAMPLES, tiny_qwen2.tokenizer, padding_side=side)
        for i in range(len(EXAMPLES)):
            assert b.attention_mask[i, b.last_pos[i]] == 1
            assert b.attention_mask[i, b.last_pos[i] + 1 :].sum() == 0


def test_truncation_keeps_the_template_suffix(tiny_qwen2):
    tok = tiny_qwen2.tokenizer
    task = make_task("nusax", tok)
    long = Example("x", "kata " * 200, "neutral", "indonesian")
    b = task.encode([long], tok, max_length=32)
    assert b.input_ids.shape[1] == 32
    suffix = tok("\nSentimen:", add_special_tokens=False)["input_ids"]
    assert b.input_ids[0, -len(suffix) :].tolist() == suffix


def test_multi_token_verbalizer_switches_to_sequence_scoring(tiny_qwen2):
    task = make_task("nusax", tiny_qwen2.tokenizer, verbalizers={"negative": " negative", "positive": " sangat bagus"})
    assert task.sequence_scoring and not task.single_token
    with pytest.raises(TaskError, match="multi-token verbalizers"):
        task.label_token_ids


def test_duplicate_verbalizer_tokens_rejected(tiny_qwen2):
    with pytest.raises(TaskError, match="same token"):
        ClassificationTask.build("t", "{text}", {"a": " positive", "b": " positive"}, tiny_qwen2.tokenizer)


def test_unknown_label_in_data(tiny_qwen2):
    task = make_task("nusax", tiny_qwen2.tokenizer)
    with pytest.raises(TaskError, match="not one of"):
        task.encode([Example("1", "x", "mixed", "indonesian")], tiny_qwen2.tokenizer)


def test_xnli_template_uses_both_texts(tiny_qwen2):
    task = make_task("xnli", tiny_qwen2.tokenizer)
    prompt = task.render(Example("0", "A man plays.", "entailment", "en", text_pair="Music."))
    assert "A man plays." in prompt and "Music." in prompt and prompt.endswith("Relation:")


def test_margin_is_gold_minus_mean_of_others():
    logits = torch.tensor([[1.0, 2.0, 4.0], [3.0, 0.0, 0.0]])
    assert task_margin(logits, torch.tensor([2, 0])).tolist() == [2.5, 3.0]


def test_evaluate_metrics_match_predictions(tiny_model):
    task = make_task("nusax", tiny_model.tokenizer)
    res = evaluate(tiny_model, task, EXAMPLES, batch_size=3, progress=False, keep_logits=True)
    gold = [e.label for e in EXAMPLES]
    assert res.accuracy == sum(p == g for p, g in zip(res.predictions, gold)) / len(gold)
    assert res.predictions == [task.labels[i] for i in res.logits.argmax(-1)]
    assert sum(res.pred_counts.values()) == res.n == 4 and sum(map(sum, res.confusion)) == 4
    with pytest.raises(TaskError, match="empty"):
        evaluate(tiny_model, task, [], progress=False)
