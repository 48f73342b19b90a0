"""Tasks: a prompt template and label verbalizers, read out as label scores (one or several tokens each)."""

from __future__ import annotations

from collections.abc import Mapping

from circuitlab.tasks.task import (
    Batch, ClassificationTask, LabelReads, TaskError, check_template, final_residual, label_logits, label_scores,
    logits_from_residual, scores_from_final, task_margin, unembed_rows,
)
from circuitlab.tasks.templates import TEMPLATES, TaskTemplate, default_template


def make_task(dataset: str, tokenizer, template: str | None = None, verbalizers: Mapping[str, str] | None = None):
    """The default task of ``dataset`` (``"nusax"``, ``"xnli"`` or a dataset folder's ``[task]``), optionally
    with another template/verbalizers."""
    from circuitlab.data import DataError, is_dataset_path

    try:
        base = default_template(str(dataset))
    except LookupError as exc:
        raise TaskError(str(exc)) from None
    except DataError:
        if is_dataset_path(dataset):
            raise  # a broken dataset folder: its own message says what to fix
        raise TaskError(f"No default task for dataset {dataset!r}; known: {sorted(TEMPLATES)}, or the path of a "
                        "dataset folder whose dataset.toml has a [task] table.") from None
    return ClassificationTask.build(base.name, template or base.template, dict(verbalizers or base.verbalizers), tokenizer)


__all__ = [
    "Batch", "ClassificationTask", "LabelReads", "TEMPLATES", "TaskError", "TaskTemplate", "check_template",
    "final_residual", "label_logits", "label_scores", "logits_from_residual", "make_task", "scores_from_final",
    "task_margin", "unembed_rows",
]
