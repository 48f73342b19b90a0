"""Tasks: prompts + single-token verbalizers, read out as label-token logits."""

from __future__ import annotations

from collections.abc import Mapping

from circuitlab.tasks.task import (
    Batch, ClassificationTask, TaskError, final_residual, label_logits, logits_from_residual, task_margin,
    unembed_rows,
)
from circuitlab.tasks.templates import TEMPLATES, TaskTemplate


def make_task(dataset: str, tokenizer, template: str | None = None, verbalizers: Mapping[str, str] | None = None):
    """The default task of ``dataset`` (``"nusax"`` or ``"xnli"``), optionally with another template/verbalizers."""
    if dataset not in TEMPLATES:
        raise TaskError(f"No default task for dataset {dataset!r}; known: {sorted(TEMPLATES)}.")
    base = TEMPLATES[dataset]
    return ClassificationTask.build(base.name, template or base.template, dict(verbalizers or base.verbalizers), tokenizer)


__all__ = [
    "Batch", "ClassificationTask", "TEMPLATES", "TaskError", "TaskTemplate", "final_residual", "label_logits",
    "logits_from_residual", "make_task", "task_margin", "unembed_rows",
]
