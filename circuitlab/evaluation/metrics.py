"""Classification metrics from predicted and gold class ids (no sklearn needed)."""

from __future__ import annotations

from collections.abc import Sequence


def confusion(gold: Sequence[int], pred: Sequence[int], n_labels: int) -> list[list[int]]:
    """``m[g][p]`` counts examples of gold class ``g`` predicted as ``p``."""
    m = [[0] * n_labels for _ in range(n_labels)]
    for g, p in zip(gold, pred):
        m[g][p] += 1
    return m


def accuracy(gold: Sequence[int], pred: Sequence[int]) -> float:
    return sum(g == p for g, p in zip(gold, pred)) / max(len(gold), 1)


def macro_f1(gold: Sequence[int], pred: Sequence[int], n_labels: int) -> float:
    """Unweighted mean of per-class F1 (a class never gold nor predicted scores 0, as in sklearn)."""
    m = confusion(gold, pred, n_labels)
    f1s = []
    for c in range(n_labels):
        tp = m[c][c]
        fp = sum(m[g][c] for g in range(n_labels)) - tp
        fn = sum(m[c]) - tp
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / n_labels
