"""The discovery set M: a label-balanced sample of proxy examples the model gets right.

Context
-------
CT-SFT finds its circuit on examples where the proxy-competent model already
works: the mechanism it should keep is the one that produces correct answers.
M is label-balanced so that the mean of every head's output over M (the baseline
μ) carries no class direction.

What it does
------------
1. Evaluates the model on the pool (every example, or the first ``max_pool`` after a
   seeded shuffle) reading label-token logits only.
2. Counts, per label, how many examples were evaluated and how many were correct.
3. Draws ``n`` correct examples with labels as equal as possible
   (:func:`circuitlab.data.balanced_sample`: ``n // L`` each, the remainder to labels
   chosen by the seed), or raises a :class:`~circuitlab.discovery.errors.DiscoveryError`
   that lists the per-label availability and what to do (e.g. a fine-tuned checkpoint,
   fewer examples, or ``labels=`` to drop a label the model never predicts).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from circuitlab.data.samplers import balanced_sample
from circuitlab.data.types import Example
from circuitlab.discovery.errors import DiscoveryError
from circuitlab.evaluation.evaluate import predict_logits
from circuitlab.tasks.task import ClassificationTask


@dataclass(frozen=True)
class DiscoverySet:
    """A discovery set and the availability report that produced it.

    Attributes:
        examples: the chosen examples (shuffled, label-balanced, all correctly classified).
        per_label: how many of each label were chosen.
        evaluated: how many pool examples of each label were evaluated.
        correct: how many of those the model classified correctly (the availability).
        accuracy: the model's accuracy on the evaluated pool.
        seed: the sampling seed.
        require_correct: whether only correctly classified examples were eligible.
    """

    examples: tuple[Example, ...]
    per_label: dict[str, int]
    evaluated: dict[str, int]
    correct: dict[str, int]
    accuracy: float
    seed: int
    require_correct: bool = True
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.examples)

    def report(self) -> str:
        """One line per label: chosen / correct / evaluated."""
        lines = [f"{'label':<14}{'chosen':>8}{'correct':>9}{'evaluated':>11}"]
        for lab in self.evaluated:
            lines.append(
                f"{lab:<14}{self.per_label.get(lab, 0):>8}{self.correct.get(lab, 0):>9}{self.evaluated[lab]:>11}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "n": len(self.examples), "ids": [e.id for e in self.examples], "per_label": self.per_label,
            "evaluated": self.evaluated, "correct": self.correct, "accuracy": self.accuracy, "seed": self.seed,
            "require_correct": self.require_correct, **self.meta,
        }


def build_discovery_set(
    model, task: ClassificationTask, pool: Sequence[Example], n: int = 50, *, seed: int = 0,
    labels: Sequence[str] | None = None, require_correct: bool = True, max_pool: int | None = None,
    batch_size: int = 16, max_length: int = 128, progress: bool = False,
) -> DiscoverySet:
    """Choose ``n`` label-balanced examples of ``pool`` that ``model`` classifies correctly.

    Args:
        model: a :class:`~circuitlab.models.LoadedModel` (the proxy-competent checkpoint θ1).
        task: the label-token task.
        pool: the candidate examples (the proxy language's pool A / train split).
        n: the size of the discovery set (the paper uses 50).
        seed: seeds the pool shuffle (with ``max_pool``) and the balanced draw.
        labels: restrict to these labels (default: every label of the task).
        require_correct: only correctly classified examples are eligible (the paper's rule).
        max_pool: evaluate only this many pool examples (seeded shuffle first); ``None`` = all.
        batch_size, max_length: evaluation batching.
    """
    if n < 1:
        raise DiscoveryError(f"The discovery set needs at least 1 example, got n={n}.")
    if not pool:
        raise DiscoveryError("The pool is empty: there are no examples to build a discovery set from.")
    wanted = tuple(labels) if labels else task.labels
    bad = [lab for lab in wanted if lab not in task.labels]
    if bad:
        raise DiscoveryError(f"Labels {bad} are not labels of task {task.name!r} ({list(task.labels)}).")
    candidates = [e for e in pool if e.label in wanted]
    if max_pool is not None:
        candidates = list(candidates)
        random.Random(seed).shuffle(candidates)
        candidates = candidates[:max_pool]
    if not candidates:
        raise DiscoveryError(f"No pool example has one of the labels {list(wanted)}.")
    evaluated = {lab: sum(e.label == lab for e in candidates) for lab in wanted}
    if require_correct:
        logits = predict_logits(model, task, candidates, batch_size, max_length, progress=progress,
                                desc="discovery set")
        pred = logits.argmax(-1).tolist()
        ok = [e for e, p in zip(candidates, pred) if task.labels[p] == e.label]
        accuracy = len(ok) / len(candidates)
    else:
        ok, accuracy = list(candidates), float("nan")
    correct = {lab: sum(e.label == lab for e in ok) for lab in wanted}
    quota = n // len(wanted) + (1 if n % len(wanted) else 0)
    short = [lab for lab in wanted if correct[lab] < quota]
    if short or len(ok) < n:
        avail = ", ".join(f"{lab}: {correct[lab]} correct of {evaluated[lab]}" for lab in wanted)
        raise DiscoveryError(
            f"Cannot build a label-balanced discovery set of {n}: label(s) {short} have too few "
            f"{'correctly classified ' if require_correct else ''}examples ({avail}; at most {quota} per label "
            f"needed). Use a proxy-competent checkpoint (--checkpoint), a smaller n (at most "
            f"{len(wanted) * min(correct.values())}), a larger pool, or restrict the labels (e.g. --labels "
            f"{','.join(lab for lab in wanted if lab not in short) or '...'})."
        )
    chosen = balanced_sample(ok, n, seed, labels=list(wanted))
    per_label = {lab: sum(e.label == lab for e in chosen) for lab in wanted}
    return DiscoverySet(tuple(chosen), per_label, evaluated, correct, accuracy, seed, require_correct,
                        {"labels": list(wanted), "pool_size": len(pool), "max_pool": max_pool})
