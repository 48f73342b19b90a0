"""One interface for every head scorer.

Context
-------
Every scorer answers the same question — how much does each attention head
(its ``hook_z`` relative to a baseline μ) move the target — with a different
trade-off between faithfulness and cost. They share one call::

    scorer.score(model, task, examples, *, mean=None, target=LogitTarget(), seed=0, batch_size=16)
        -> HeadScores

and one result type (:class:`~circuitlab.discovery.scores.HeadScores`), so their
rankings can be compared directly. Sign convention for all of them: a positive
score means the head, relative to μ, pushes the target the way it goes on this
input (for the logits: toward the gold label).

A scorer is a class with a config dataclass (its options, each documented) and a
``_score`` method; it is made available by registering it
(:func:`~circuitlab.discovery.scorers.register_scorer`), never by editing a
central ``if``.
"""

from __future__ import annotations

import platform
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from circuitlab.data.types import Example
from circuitlab.discovery.errors import DiscoveryError
from circuitlab.discovery.mean import HeadMean, Pooling, label_balanced_mean
from circuitlab.discovery.scores import HeadScores
from circuitlab.discovery.targets import LogitTarget, Target, check_target
from circuitlab.evaluation.evaluate import iter_batches
from circuitlab.heads import Head
from circuitlab.tasks.task import Batch, ClassificationTask


@dataclass
class ScorerConfig:
    """Options every scorer has.

    Attributes:
        pooling: how μ pools positions when no ``mean`` is given (see :mod:`circuitlab.discovery.mean`).
        max_length: prompt truncation (tokens).
        padding_side: ``"right"`` or ``"left"``; scores do not depend on it (padding is masked).
        progress: show a progress bar.
    """

    pooling: Pooling = "mean"
    max_length: int = 128
    padding_side: str = "right"
    progress: bool = False


@dataclass
class ScoringRun:
    """Everything one scoring call needs, resolved and validated."""

    model: Any
    task: ClassificationTask
    examples: list[Example]
    mean: HeadMean
    target: Target
    seed: int
    batch_size: int
    config: ScorerConfig
    notes: dict = field(default_factory=dict)

    def batches(self) -> list[tuple[list[int], Batch]]:
        """Length-sorted batches on the model's device.

        With the logits as target, a multi-token task gets ``n_labels`` rows per example (each label's
        tokens after the prompt, :mod:`circuitlab.tasks.task`); head targets read the prompts alone.
        """
        c = self.config
        prompts_only = not isinstance(self.target, LogitTarget)
        return [
            (idx, b.to(self.model.device))
            for idx, b in iter_batches(self.task, self.model.tokenizer, self.examples, self.batch_size,
                                       c.max_length, c.padding_side, prompts_only)
        ]

    @property
    def mu(self) -> Tensor:
        return self.mean.values

    def candidates(self) -> list[Head]:
        """Every head that can influence the target (all heads for the logits)."""
        g = self.model.geometry
        return [Head(l, h) for l in range(g.n_layers) for h in range(g.n_heads) if self.target.reachable(Head(l, h))]


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "transformer-lens", "circuitlab"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


class Scorer(ABC):
    """Base class: validation, the mean, timing and the result table; subclasses implement ``_score``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    config_class: ClassVar[type[ScorerConfig]] = ScorerConfig

    def __init__(self, config: ScorerConfig | None = None, **options: Any) -> None:
        if config is not None and options:
            raise DiscoveryError("Give either a config object or keyword options, not both.")
        try:
            self.config = config if config is not None else self.config_class(**options)
        except TypeError as exc:
            fields = ", ".join(self.config_class.__dataclass_fields__)
            raise DiscoveryError(f"Bad option for scorer {self.name!r}: {exc}. Its options are: {fields}.") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"

    def score(
        self, model, task: ClassificationTask, examples: Sequence[Example], *, mean: HeadMean | None = None,
        target: Target | None = None, seed: int = 0, batch_size: int = 16,
    ) -> HeadScores:
        """Score every head of ``model`` on ``examples`` (see the module docstring)."""
        examples = list(examples)
        if not examples:
            raise DiscoveryError(
                "The discovery set is empty: scoring needs at least one example (build one with "
                "build_discovery_set)."
            )
        if batch_size < 1:
            raise DiscoveryError(f"batch_size must be at least 1, got {batch_size}.")
        target = check_target(target if target is not None else LogitTarget(), model.geometry)
        t0 = time.perf_counter()
        if mean is None:
            mean = label_balanced_mean(model, task, examples, pooling=self.config.pooling, batch_size=batch_size,
                                       max_length=self.config.max_length, padding_side=self.config.padding_side)
        g = model.geometry
        if tuple(mean.values.shape) != (g.n_layers, g.n_heads, g.d_head):
            raise DiscoveryError(
                f"The mean has shape {tuple(mean.values.shape)} but {model.name!r} needs "
                f"({g.n_layers}, {g.n_heads}, {g.d_head}); compute it on this model."
            )
        run = ScoringRun(model, task, examples, mean, target, seed, batch_size, self.config)
        t1 = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            scores = self._score(run).detach().float().cpu()
        t2 = time.perf_counter()
        languages = sorted({e.language for e in examples})
        meta = {
            "method": self.name, "config": asdict(self.config), "target": target.describe(),
            "model": model.name, "model_path": str(getattr(model, "path", "")), "task": task.name,
            "labels": list(task.labels), "mean": mean.to_dict(), "seed": seed, "batch_size": batch_size,
            "n_examples": len(examples), "example_ids": [e.id for e in examples],
            "seconds": {"mean": t1 - t0, "score": t2 - t1}, "versions": _versions(), **run.notes,
        }
        return HeadScores.from_tensor(
            scores, method=self.name, model=model.name, language="+".join(languages), n_examples=len(examples),
            seed=seed, meta=meta, target=target.describe(),
        )

    @abstractmethod
    def _score(self, run: ScoringRun) -> Tensor:
        """``[n_layers, n_heads]`` scores (``NaN`` for heads that cannot reach the target)."""
