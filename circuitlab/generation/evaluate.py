"""Greedy translation and its chrF++ score (sacrebleu).

chrF++ (``CHRF(word_order=2)``) compares character n-grams (1–6) and word n-grams
(1–2) of hypothesis and reference; it is the standard metric for morphologically rich,
low-resource languages and needs no tokeniser. The corpus score is reported on
sacrebleu's 0–100 scale. Generation is greedy (``do_sample=False``), left-padded and
batched, and stops at ``max_new_tokens`` or when every row has produced the task's stop
string (a newline by default).

Generation runs with the KV cache on the plain HF module tree under the Bridge
(:func:`circuitlab.models.plain_hf`): cached decoding *through* the Bridge's attention wrapper
drifts (Gemma-3-270M: ``" I I I I …"``), while the unwrapped model shares the same parameters
and matches both uncached decoding and a manual argmax loop (tested). ``use_cache=False``
decodes through the Bridge without a cache, so hooks added to it act during generation, at the
cost of recomputing the prefix at every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from circuitlab.generation.translation import TranslationPair, TranslationTask, pad_id
from circuitlab.models.plain import plain_hf


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF++ (0–100) of ``hypotheses`` against one reference each."""
    try:
        from sacrebleu.metrics import CHRF
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("chrF needs sacrebleu: pip install 'circuitlab[generation]'.") from exc
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references.")
    return float(CHRF(word_order=2).corpus_score(list(hypotheses), [list(references)]).score)


@dataclass(frozen=True)
class TranslationResult:
    """chrF++ of a model on some pairs, with every hypothesis."""

    chrf: float
    hypotheses: tuple[str, ...]
    references: tuple[str, ...]


class _StopOnString:
    """Stop when every row's new text contains the stop string (a transformers StoppingCriteria)."""

    def __init__(self, tokenizer, start: int, stop: str):
        self.tokenizer, self.start, self.stop = tokenizer, start, stop

    def __call__(self, input_ids, scores, **kwargs):
        texts = self.tokenizer.batch_decode(input_ids[:, self.start:], skip_special_tokens=True)
        return torch.tensor([self.stop in t for t in texts], device=input_ids.device)


@torch.no_grad()
def translate(
    hf_model, tokenizer, pairs: Sequence[TranslationPair], task: TranslationTask = TranslationTask(),
    max_new_tokens: int = 64, batch_size: int = 16, use_cache: bool = True,
) -> list[str]:
    """Greedy hypotheses for ``pairs`` (cut at the task's stop string)."""
    from transformers import StoppingCriteriaList

    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    pad = pad_id(tokenizer)
    device = next(hf_model.parameters()).device
    out: list[str] = []
    was_training = hf_model.training
    hf_model.eval()
    try:
        for i in range(0, len(pairs), batch_size):
            chunk = pairs[i:i + batch_size]
            enc = tokenizer([task.prompt(p) for p in chunk], return_tensors="pt", padding=True).to(device)
            start = enc["input_ids"].shape[1]
            stopping = StoppingCriteriaList([_StopOnString(tokenizer, start, task.stop)]) if task.stop else None
            with plain_hf(hf_model) if use_cache else nullcontext():
                gen = hf_model.generate(
                    **enc, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=pad,
                    stopping_criteria=stopping, use_cache=use_cache, top_p=None, top_k=None, temperature=None,
                )
            texts = tokenizer.batch_decode(gen[:, start:], skip_special_tokens=True)
            out += [task.cut(t) for t in texts]
    finally:
        tokenizer.padding_side = side
        hf_model.train(was_training)
    return out


def evaluate_translation(
    hf_model, tokenizer, pairs: Sequence[TranslationPair], task: TranslationTask = TranslationTask(),
    max_new_tokens: int = 64, batch_size: int = 16, use_cache: bool = True,
) -> TranslationResult:
    """Translate ``pairs`` greedily and score the hypotheses with chrF++."""
    hyps = translate(hf_model, tokenizer, pairs, task, max_new_tokens, batch_size, use_cache)
    refs = [p.reference for p in pairs]
    return TranslationResult(chrf(hyps, refs), tuple(hyps), tuple(refs))
