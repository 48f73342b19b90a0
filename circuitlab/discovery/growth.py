"""Circuit growth by depth: CD-T's iteration, as CT-SFT uses it.

Context
-------
Depth 0 scores every head against the label logits and keeps the top ``k``.
Depth ``d ≥ 1`` scores every head against the heads chosen at depth ``d − 1`` (a
:class:`~circuitlab.discovery.targets.HeadTarget`) and adds the top ``k`` of the
heads not yet in the circuit. The circuit at depth ``D`` is the union of depths
``0..D``: with the paper's 2 % of 336 heads that is 6 / 12 / 18 heads at depths 0 / 1 / 2.

``k`` is a count or a share of all heads (``0.02`` = the paper's 2 %; a small model
such as Gemma-3-270M, 72 heads, gets ``max(1, round(0.02·72)) = 1`` per depth, so
pass a count there). Only heads in layers below the deepest target can influence it;
the others score ``NaN`` and are never chosen. If fewer than ``k`` heads remain
eligible at some depth, all of them are taken and this is noted; if none remain (the
previous depth's heads are all in layer 0) growth stops early, also noted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from circuitlab.data.types import Example
from circuitlab.discovery.errors import DiscoveryError
from circuitlab.discovery.mean import HeadMean, label_balanced_mean
from circuitlab.discovery.scorers import Scorer, get_scorer
from circuitlab.discovery.scores import HeadScores
from circuitlab.discovery.selection import resolve_k, select_heads
from circuitlab.discovery.targets import HeadTarget, LogitTarget, Target
from circuitlab.heads import Head, HeadSet
from circuitlab.tasks.task import ClassificationTask


@dataclass
class DepthResult:
    """One depth of growth: its target, the scores against it, the heads it added, the circuit so far."""

    depth: int
    target: str
    scores: HeadScores
    chosen: HeadSet
    circuit: HeadSet
    note: str = ""


@dataclass
class GrowthResult:
    """All depths of one growth run."""

    depths: list[DepthResult]
    per_depth: int
    method: str
    meta: dict = field(default_factory=dict)

    def circuit(self, depth: int | None = None) -> HeadSet:
        """The union of the heads chosen at depths ``0..depth`` (default: the deepest reached)."""
        if not self.depths:
            return HeadSet()
        if depth is None:
            return self.depths[-1].circuit
        if not 0 <= depth < len(self.depths):
            raise DiscoveryError(f"Depth {depth} was not reached; depths 0..{len(self.depths) - 1} are available.")
        return self.depths[depth].circuit

    def table(self) -> pd.DataFrame:
        """Every depth's score table stacked, with ``depth``, ``target`` and ``chosen`` columns."""
        frames = []
        for d in self.depths:
            df = d.scores.table.copy()
            df["depth"] = d.depth
            df["chosen"] = [Head(int(l), int(h)) in d.chosen for l, h in zip(df["layer"], df["head"])]
            frames.append(df)
        return pd.concat(frames, ignore_index=True)

    def to_dict(self) -> dict:
        return {
            "method": self.method, "per_depth": self.per_depth,
            "depths": [
                {"depth": d.depth, "target": d.target, "chosen": d.chosen.to_list(), "circuit": d.circuit.to_list(),
                 "note": d.note}
                for d in self.depths
            ],
            **self.meta,
        }


def grow_circuit(
    model, task: ClassificationTask, examples: Sequence[Example], *, scorer: str | Scorer = "directional",
    depth: int = 2, k: int | float = 0.02, mean: HeadMean | None = None, seed: int = 0, batch_size: int = 16,
) -> GrowthResult:
    """Grow a circuit for ``depth + 1`` rounds of ``k`` heads each (see the module docstring).

    Args:
        scorer: a scorer name or instance; every depth uses it (with the depth's target).
        depth: the last depth (``0`` = logits only).
        k: heads added per depth: a count, or a share of all heads in (0, 1).
        mean: μ (computed once with the scorer's pooling when omitted).
    """
    if depth < 0:
        raise DiscoveryError(f"depth must be >= 0, got {depth}.")
    sc = get_scorer(scorer) if isinstance(scorer, str) else scorer
    g = model.geometry
    per_depth = resolve_k(k, g.total_heads)
    if mean is None:
        if not examples:
            raise DiscoveryError("Cannot grow a circuit on an empty discovery set.")
        mean = label_balanced_mean(model, task, examples, pooling=sc.config.pooling, batch_size=batch_size,
                                   max_length=sc.config.max_length)
    circuit = HeadSet()
    target: Target = LogitTarget()
    depths: list[DepthResult] = []
    for d in range(depth + 1):
        scores = sc.score(model, task, examples, mean=mean, target=target, seed=seed, batch_size=batch_size)
        df = scores.table
        eligible = [
            Head(int(l), int(h)) for l, h, s in zip(df["layer"], df["head"], df["score"])
            if s == s and Head(int(l), int(h)) not in circuit
        ]
        note = ""
        if not eligible:
            note = f"stopped: no head outside the circuit can reach the depth-{d} target {target.describe()}"
            depths.append(DepthResult(d, target.describe(), scores, HeadSet(), circuit, note))
            break
        n = min(per_depth, len(eligible))
        if n < per_depth:
            note = f"only {n} eligible head(s) left for k={per_depth}"
        chosen = select_heads(scores, n, "top", exclude=circuit)
        circuit = circuit | chosen
        depths.append(DepthResult(d, target.describe(), scores, chosen, circuit, note))
        if d < depth:
            target = HeadTarget(chosen)
            if target.max_layer == 0:
                depths[-1].note = (depths[-1].note + "; " if depths[-1].note else "") + (
                    "growth stopped: the chosen heads are all in layer 0, so no head can feed them"
                )
                break
    return GrowthResult(depths, per_depth, sc.name, {"k": k, "depth": depth, "seed": seed,
                                                     "mean": mean.to_dict()})
