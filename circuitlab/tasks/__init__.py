"""Tasks: a prompt template and label verbalizers, read out as label scores (one or several tokens each)."""

from __future__ import annotations

from collections.abc import Mapping

from circuitlab.tasks.task import (
    Batch, ClassificationTask, LabelReads, TaskError, check_template, final_residual, label_logits, label_scores,
    logits_from_residual, scores_from_final, task_margin, unembed_rows,
)
from circuitlab.tasks.templates import TEMPLATES, TaskTemplate


def make_task(dataset: str, tokenizer, template: str | None = None, verbalizers: Mapping[str, str] | None = None):
    """The default task of ``dataset`` (``"nusax"`` or ``"xnli"``), optionally with another template/verbalizers."""
    if dataset not in TEMPLATES:
        raise TaskError(f"No default task for dataset {dataset!r}; known: {sorted(TEMPLATES)}.")
    base = TEMPLATES[dataset]
    return ClassificationTask.build(base.name, template or base.template, dict(verbalizers or base.verbalizers), tokenizer)


__all__ = [
    "Batch", "ClassificationTask", "LabelReads", "TEMPLATES", "TaskError", "TaskTemplate", "check_template",
    "final_residual", "label_logits", "label_scores", "logits_from_residual", "make_task", "scores_from_final",
    "task_margin", "unembed_rows",
]
