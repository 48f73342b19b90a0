"""Evaluation: accuracy and macro-F1 from label-token logits."""

from circuitlab.evaluation.evaluate import EvalResult, evaluate, iter_batches, predict_logits
from circuitlab.evaluation.metrics import accuracy, confusion, macro_f1

__all__ = ["EvalResult", "accuracy", "confusion", "evaluate", "iter_batches", "macro_f1", "predict_logits"]
