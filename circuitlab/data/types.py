"""The examples every loader returns and every task consumes.

A classification example is one text (or a text pair, for NLI), a string label
and the language it is written in. ``id`` links parallel examples: in NusaX and
XNLI the same ``id`` is the same sentence in every language.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Example:
    """One labelled example.

    Attributes:
        id: identifier shared by the parallel translations of this example.
        text: the sentence (NusaX) or the premise (XNLI).
        label: the gold label as a string, e.g. ``"positive"`` or ``"entailment"``.
        language: the language name or code, e.g. ``"javanese"`` or ``"en"``.
        text_pair: the hypothesis for sentence-pair tasks, else ``None``.
    """

    id: str
    text: str
    label: str
    language: str
    text_pair: str | None = None
