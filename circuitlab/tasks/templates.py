"""Default prompt templates and verbalizers per dataset.

The NusaX verbalizers are English words (``" negative"``, ``" neutral"``,
``" positive"``): they are single tokens for Gemma-3, SmolLM2 and Qwen2.5 (the
paper's model), and were the best on Indonesian validation with Gemma-3-270M
(see ``shared/docs/baselines.md``); the Indonesian ``" netral"`` is two tokens.
For XNLI we follow the paper: ``" entail"``, ``" neutral"``, ``" contradiction"``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskTemplate:
    """A dataset's default prompt and verbalizers (not yet bound to a tokenizer)."""

    name: str
    template: str
    verbalizers: dict[str, str]


TEMPLATES: dict[str, TaskTemplate] = {
    "nusax": TaskTemplate(
        "nusax-senti",
        "Kalimat: {text}\nSentimen:",
        {"negative": " negative", "neutral": " neutral", "positive": " positive"},
    ),
    "xnli": TaskTemplate(
        "xnli",
        "Premise: {text}\nHypothesis: {text_pair}\nRelation:",
        {"entailment": " entail", "neutral": " neutral", "contradiction": " contradiction"},
    ),
}
