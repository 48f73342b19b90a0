"""Evaluate a model on a classification task, reading only the label scores (see :mod:`circuitlab.tasks`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from circuitlab.data.types import Example
from circuitlab.evaluation.metrics import accuracy, confusion, macro_f1
from circuitlab.tasks.task import ClassificationTask, TaskError, label_scores


@dataclass
class EvalResult:
    """Metrics of one evaluation; ``predictions`` are label names in input order, ``correct`` one character per
    example in input order ("1" right, "0" wrong): what a paired, example-level bootstrap resamples."""

    accuracy: float
    macro_f1: float
    n: int
    labels: tuple[str, ...]
    gold_counts: dict[str, int]
    pred_counts: dict[str, int]
    confusion: list[list[int]]
    predictions: list[str] = field(repr=False)
    correct: str = field(default="", repr=False)
    logits: torch.Tensor | None = field(default=None, repr=False)

    def to_dict(self, with_predictions: bool = True) -> dict:
        d = asdict(self)
        d.pop("logits")
        if not with_predictions:
            d.pop("predictions")
        return d


def iter_batches(
    task: ClassificationTask, tokenizer, examples: Sequence[Example], batch_size: int, max_length: int = 128,
    padding_side: str = "right", prompts_only: bool = False,
):
    """Yield ``(indices, Batch)`` over examples sorted by length, so padding is minimal.

    ``prompts_only``: one row per example even for a multi-token task (see :meth:`ClassificationTask.encode`).
    """
    lengths = [len(task.render(e)) for e in examples]
    order = sorted(range(len(examples)), key=lambda i: lengths[i])
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        yield idx, task.encode([examples[i] for i in idx], tokenizer, max_length, padding_side, prompts_only)


def predict_logits(
    model, task: ClassificationTask, examples: Sequence[Example], batch_size: int = 16, max_length: int = 128,
    padding_side: str = "right", fwd_hooks: Sequence = (), progress: bool = True, desc: str = "evaluate",
) -> torch.Tensor:
    """Label scores ``[n_examples, n_labels]`` in input order (logits, or summed log-probs for multi-token labels)."""
    out = torch.empty(len(examples), task.n_labels)
    n_batches = (len(examples) + batch_size - 1) // batch_size
    with torch.inference_mode():
        for idx, batch in tqdm(
            iter_batches(task, model.tokenizer, examples, batch_size, max_length, padding_side),
            total=n_batches, desc=desc, disable=not progress, leave=False,
        ):
            out[idx] = label_scores(model, task, batch, fwd_hooks).float().cpu()
    return out


def evaluate(
    model, task: ClassificationTask, examples: Sequence[Example], batch_size: int = 16, max_length: int = 128,
    padding_side: str = "right", progress: bool = True, keep_logits: bool = False,
) -> EvalResult:
    """Accuracy, macro-F1, per-class counts and predictions of ``model`` (a LoadedModel) on ``examples``."""
    if not examples:
        raise TaskError("Nothing to evaluate: the example list is empty (check the split and any --limit).")
    logits = predict_logits(model, task, examples, batch_size, max_length, padding_side, progress=progress)
    pred = logits.argmax(-1).tolist()
    gold = [task.label_index(e.label) for e in examples]
    count = lambda ids: {lab: sum(1 for i in ids if i == c) for c, lab in enumerate(task.labels)}  # noqa: E731
    return EvalResult(
        accuracy=accuracy(gold, pred), macro_f1=macro_f1(gold, pred, task.n_labels), n=len(examples),
        labels=task.labels, gold_counts=count(gold), pred_counts=count(pred),
        confusion=confusion(gold, pred, task.n_labels), predictions=[task.labels[p] for p in pred],
        correct="".join("1" if g == p else "0" for g, p in zip(gold, pred)),
        logits=logits if keep_logits else None,
    )
