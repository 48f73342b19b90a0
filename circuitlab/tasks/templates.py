"""Default prompt templates and verbalizers per dataset.

The NusaX verbalizers are English words (``" negative"``, ``" neutral"``,
``" positive"``): they are single tokens for Gemma-3, SmolLM2 and Qwen2.5 (the
paper's model), and were the best on Indonesian validation with Gemma-3-270M
(see ``shared/docs/baselines.md``); the Indonesian ``" netral"`` is two tokens.
For XNLI we follow the paper: ``" entail"``, ``" neutral"``, ``" contradiction"``.
A dataset folder brings its own in the ``[task]`` table of its ``dataset.toml``
(:func:`default_template` reads it).
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


def default_template(dataset: str) -> TaskTemplate:
    """The default prompt of ``dataset``: a registered one's from :data:`TEMPLATES`, a folder's from its toml.

    Raises ``DataError`` for an unknown name or a bad folder, ``LookupError`` for a dataset without one.
    """
    if dataset in TEMPLATES:
        return TEMPLATES[dataset]
    from circuitlab.data import get_dataset

    spec = get_dataset(dataset)
    if spec.name in TEMPLATES:  # another spelling of a registered name ("NusaX")
        return TEMPLATES[spec.name]
    if not spec.template:
        raise LookupError(f"Dataset {spec.display!r} has no default task; pass a template and verbalizers.")
    return TaskTemplate(spec.display, spec.template, dict(spec.verbalizers))
