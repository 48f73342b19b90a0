"""A translation task from NusaX's parallel rows: prompt, response, and a loss on the response only.

NusaX-Senti is parallel: the row with one ``id`` is the same review in every language.
A :class:`TranslationPair` joins a source-language text to its English (or other
language) reference by that id. :class:`TranslationTask` turns a pair into a prompt
(``"Translate Javanese to English.\\nJavanese: …\\nEnglish:"``) and a response
(``" <reference>\\n"``); :meth:`TranslationTask.encode` tokenises prompt + response
with ``labels = -100`` on the prompt (and padding), so the causal-LM loss of
``transformers`` counts the response tokens only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from circuitlab.data.nusax import load_nusax_parallel, nusax_language
from circuitlab.errors import UserError

IGNORE = -100


@dataclass(frozen=True)
class TranslationPair:
    """One parallel sentence: ``source`` (in ``source_language``) and its ``reference``."""

    id: str
    source: str
    reference: str
    source_language: str
    target_language: str


def load_translation_pairs(
    source: str, target: str = "english", split: str = "train", data_dir=None, limit: int | None = None,
) -> list[TranslationPair]:
    """NusaX rows of ``split`` present in both languages, joined by id (file order)."""
    src, tgt = nusax_language(source), nusax_language(target)
    if src == tgt:
        raise UserError(f"Source and target language are both {src!r}; translation needs two languages.")
    table = load_nusax_parallel([src, tgt], split, data_dir)
    pairs = [TranslationPair(str(i), str(r[src]), str(r[tgt]), src, tgt) for i, r in table.iterrows()]
    return pairs[:limit] if limit else pairs


@dataclass(frozen=True)
class TranslationTask:
    """How a pair becomes text for a causal LM.

    Attributes:
        template: the prompt, with ``{source_name}``, ``{target_name}`` and ``{text}``.
        stop: the response ends with this string; generation is cut at its first occurrence.
    """

    template: str = "Translate {source_name} to {target_name}.\n{source_name}: {text}\n{target_name}:"
    stop: str = "\n"

    def __post_init__(self) -> None:
        if "{text}" not in self.template:
            raise UserError("A translation template needs a {text} placeholder for the source sentence.")

    def prompt(self, pair: TranslationPair) -> str:
        return self.template.format(
            source_name=pair.source_language.title(), target_name=pair.target_language.title(), text=pair.source
        )

    def response(self, pair: TranslationPair) -> str:
        return " " + pair.reference.strip() + self.stop

    def cut(self, generated: str) -> str:
        """The hypothesis: generated text up to the stop string, stripped."""
        return generated.split(self.stop, 1)[0].strip() if self.stop else generated.strip()

    def encode(self, tokenizer, pairs: Sequence[TranslationPair], max_length: int = 128) -> list[dict[str, list[int]]]:
        """Token ids of prompt + response, and labels that are ``-100`` on the prompt.

        Long examples lose the end of their response (the prompt is kept whole); an
        example whose prompt alone fills ``max_length`` is an error (raise it).
        """
        rows = []
        for pair in pairs:
            p = tokenizer(self.prompt(pair), add_special_tokens=True)["input_ids"]
            r = tokenizer(self.response(pair), add_special_tokens=False)["input_ids"]
            if len(p) >= max_length:
                raise UserError(
                    f"Example {pair.id}: its prompt is {len(p)} tokens, max_length is {max_length}; raise max_length."
                )
            ids = (p + r)[:max_length]
            rows.append({"input_ids": ids, "attention_mask": [1] * len(ids),
                         "labels": [IGNORE] * len(p) + ids[len(p):]})
        return rows


def pad_id(tokenizer) -> int:
    """The tokenizer's pad token, else its eos token (what generation and batching pad with)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise UserError("The tokenizer has neither a pad nor an eos token; set tokenizer.pad_token first.")
    return int(pad)


def collate(rows: Sequence[dict[str, list[int]]], pad: int, side: str = "right") -> dict[str, torch.Tensor]:
    """Pad a batch of :meth:`TranslationTask.encode` rows (labels padded with -100).

    ``side="left"`` puts every row's response at the end, so the last positions of the
    batch are the only ones whose logits a response-only metric needs.
    """
    n = max(len(r["input_ids"]) for r in rows)
    fill = {"input_ids": pad, "attention_mask": 0, "labels": IGNORE}
    out = {k: [] for k in fill}
    for r in rows:
        for k, v in fill.items():
            extra = [v] * (n - len(r[k]))
            out[k].append(extra + r[k] if side == "left" else r[k] + extra)
    return {k: torch.tensor(v) for k, v in out.items()}


class Collator:
    """A ``data_collator`` for ``Trainer``: right-padding :func:`collate` with the tokenizer's pad id."""

    def __init__(self, tokenizer):
        self.pad_id = pad_id(tokenizer)

    def __call__(self, rows):
        return collate(rows, self.pad_id)
