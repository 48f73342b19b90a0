"""The translation task: NusaX pairs joined by id, prompts, response-only labels, chrF++."""

from __future__ import annotations

import pytest

from circuitlab.errors import UserError
from circuitlab.generation import (
    Collator, TranslationPair, TranslationTask, chrf, collate, load_translation_pairs, translate,
)
from circuitlab.generation.translation import IGNORE


def test_pairs_are_joined_by_id(nusax_dir):
    from circuitlab.data import load_examples

    pairs = load_translation_pairs("javanese", "english", "test", nusax_dir)
    assert len(pairs) == 400
    jv = {e.id: e.text for e in load_examples("nusax", "javanese", "test", nusax_dir)}
    en = {e.id: e.text for e in load_examples("nusax", "english", "test", nusax_dir)}
    for p in pairs[:20]:
        assert p.source == jv[p.id] and p.reference == en[p.id]
        assert (p.source_language, p.target_language) == ("javanese", "english")
    assert len(load_translation_pairs("indonesian", "english", "train", nusax_dir, limit=7)) == 7


def test_pairs_refuse_bad_languages(nusax_dir):
    with pytest.raises(UserError, match="two languages"):
        load_translation_pairs("english", "english", "test", nusax_dir)
    with pytest.raises(UserError):
        load_translation_pairs("klingon", "english", "test", nusax_dir)


PAIR = TranslationPair("7", "aku seneng banget", "i like it a lot", "javanese", "english")


def test_prompt_response_and_cut():
    task = TranslationTask()
    assert task.prompt(PAIR) == "Translate Javanese to English.\nJavanese: aku seneng banget\nEnglish:"
    assert task.response(PAIR) == " i like it a lot\n"
    assert task.cut(" i like it\nJavanese: more") == "i like it"
    with pytest.raises(UserError, match=r"\{text\}"):
        TranslationTask(template="Translate this")


def test_labels_count_the_response_only(tiny_qwen2):
    tok = tiny_qwen2.tokenizer
    task = TranslationTask()
    (row,) = task.encode(tok, [PAIR], max_length=128)
    n_prompt = len(tok(task.prompt(PAIR))["input_ids"])
    assert row["labels"][:n_prompt] == [IGNORE] * n_prompt
    assert row["labels"][n_prompt:] == row["input_ids"][n_prompt:]
    assert tok.decode(row["input_ids"][n_prompt:]) == task.response(PAIR)
    short = task.encode(tok, [PAIR], max_length=n_prompt + 2)[0]
    assert len(short["input_ids"]) == n_prompt + 2
    with pytest.raises(UserError, match="raise max_length"):
        task.encode(tok, [PAIR], max_length=n_prompt)


def test_collate_pads_labels_with_ignore(tiny_qwen2):
    task = TranslationTask()
    rows = task.encode(tiny_qwen2.tokenizer, [PAIR, TranslationPair("8", "x", "y", "javanese", "english")])
    batch = Collator(tiny_qwen2.tokenizer)(rows)
    n = max(len(r["input_ids"]) for r in rows)
    assert batch["input_ids"].shape == (2, n)
    short = min(range(2), key=lambda i: len(rows[i]["input_ids"]))
    k = len(rows[short]["input_ids"])
    assert (batch["labels"][short, k:] == IGNORE).all() and (batch["attention_mask"][short, k:] == 0).all()
    assert collate(rows, 0)["labels"].tolist() == batch["labels"].tolist()


def test_chrf_scores():
    assert chrf(["i like it a lot"], ["i like it a lot"]) == pytest.approx(100.0)
    assert chrf(["zzzz"], ["i like it"]) == pytest.approx(0.0)
    near = chrf(["i like it"], ["i like it a lot"])
    far = chrf(["it like i"], ["i like it a lot"])
    assert 0 < far < near < 100  # word bigrams (chrF++) reward the right order
    with pytest.raises(ValueError, match="references"):
        chrf(["a", "b"], ["a"])


def test_greedy_translation_is_deterministic(tiny_model):
    pairs = [PAIR, TranslationPair("8", "wong iku apik", "that person is good", "javanese", "english")]
    side = tiny_model.tokenizer.padding_side
    a = translate(tiny_model.hf_model, tiny_model.tokenizer, pairs, max_new_tokens=6, batch_size=2)
    b = translate(tiny_model.hf_model, tiny_model.tokenizer, pairs[::-1], max_new_tokens=6, batch_size=1)
    assert len(a) == 2 and all(isinstance(t, str) and "\n" not in t for t in a)
    assert a == b[::-1]  # left padding: a row's output does not depend on its batch
    assert tiny_model.tokenizer.padding_side == side  # restored


@pytest.mark.parametrize("use_cache", [True, False])
def test_translate_is_the_greedy_argmax_loop(tiny_model, use_cache):
    """Cached (on the unwrapped HF tree) and uncached (through the Bridge) decoding both equal a
    manual greedy loop over the Bridge's logits, on every tiny family."""
    import torch

    task = TranslationTask(stop="")
    tok = tiny_model.tokenizer
    (hyp,) = translate(tiny_model.hf_model, tok, [PAIR], task, max_new_tokens=6, batch_size=1, use_cache=use_cache)
    ids = tok(task.prompt(PAIR), return_tensors="pt")["input_ids"]
    start = ids.shape[1]
    with torch.no_grad():
        for _ in range(6):
            ids = torch.cat([ids, tiny_model.hf_model(input_ids=ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
    assert hyp == tok.decode(ids[0, start:], skip_special_tokens=True).strip()
