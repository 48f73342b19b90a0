"""Faithfulness: does the circuit alone carry the task?

Context
-------
A circuit is faithful if the model still does the task when every head *outside*
it is mean-ablated (its ``hook_z`` replaced by μ at every position). That alone
says little: small models are robust, and a random set of the same size may do as
well. So the circuit is compared with ``n_random`` random head sets of the same size
(seeded; drawn uniformly from all heads), and with the two ends of the scale: the
full model (nothing ablated) and the empty circuit (every head ablated).

Reported per condition: accuracy and the mean task margin
(``logit(gold) − mean logit(other labels)``); for the random sets their mean and
standard deviation; and the normalised faithfulness
``(m(circuit) − m(empty)) / (m(full) − m(empty))`` for both metrics.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from tqdm.auto import tqdm

from circuitlab.data.types import Example
from circuitlab.discovery.errors import DiscoveryError
from circuitlab.discovery.mean import HeadMean
from circuitlab.evaluation.evaluate import iter_batches
from circuitlab.heads import Head, HeadSet
from circuitlab.tasks.task import ClassificationTask, label_scores, task_margin


@dataclass(frozen=True)
class CircuitMetrics:
    """Accuracy and mean task margin of one condition."""

    accuracy: float
    margin: float
    n: int


@dataclass
class FaithfulnessResult:
    """The circuit against the full model, the empty circuit and random circuits of the same size."""

    circuit: HeadSet
    full: CircuitMetrics
    circuit_metrics: CircuitMetrics
    empty: CircuitMetrics
    random: list[CircuitMetrics]
    random_sets: list[HeadSet]
    seed: int
    meta: dict = field(default_factory=dict)

    def summary(self) -> dict:
        out: dict = {"size": len(self.circuit), "circuit": self.circuit.to_list(), "n_random": len(self.random)}
        for metric in ("accuracy", "margin"):
            c, f, e = (getattr(m, metric) for m in (self.circuit_metrics, self.full, self.empty))
            rnd = [getattr(m, metric) for m in self.random]
            out[metric] = {
                "full": f, "circuit": c, "empty": e,
                "random_mean": statistics.fmean(rnd) if rnd else float("nan"),
                "random_std": statistics.stdev(rnd) if len(rnd) > 1 else float("nan"),
                "random_at_least_circuit": sum(r >= c for r in rnd) / len(rnd) if rnd else float("nan"),
                "normalized": (c - e) / (f - e) if f != e else float("nan"),
            }
        return out

    def to_dict(self) -> dict:
        return {
            "summary": self.summary(), "full": asdict(self.full), "circuit_metrics": asdict(self.circuit_metrics),
            "empty": asdict(self.empty), "random": [asdict(m) for m in self.random],
            "random_sets": [s.to_list() for s in self.random_sets], "seed": self.seed, **self.meta,
        }


def _keep_only(mean: HeadMean, keep: HeadSet, n_layers: int, n_heads: int) -> list:
    """Hooks that mean-ablate every head not in ``keep``."""
    hooks = []
    for layer in range(n_layers):
        drop = [h for h in range(n_heads) if Head(layer, h) not in keep]
        if not drop:
            continue

        def fn(z, hook, layer=layer, drop=drop):
            z = z.clone()
            z[..., drop, :] = mean.values[layer, drop].to(z.dtype)
            return z

        hooks.append((f"blocks.{layer}.attn.hook_z", fn))
    return hooks


@torch.no_grad()
def _metrics(model, task, batches, hooks) -> CircuitMetrics:
    correct, margin, n = 0, 0.0, 0
    for _, batch in batches:
        logits = label_scores(model, task, batch, hooks)
        labels = batch.labels.to(logits.device)
        correct += int((logits.argmax(-1) == labels).sum())
        margin += float(task_margin(logits, labels).sum())
        n += batch.n_examples
    return CircuitMetrics(correct / n, margin / n, n)


def faithfulness(
    model, task: ClassificationTask, examples: Sequence[Example], circuit: HeadSet | Sequence, *, mean: HeadMean,
    n_random: int = 10, seed: int = 0, batch_size: int = 16, max_length: int = 128, progress: bool = False,
) -> FaithfulnessResult:
    """Accuracy and margin with only ``circuit``'s heads left intact, vs random sets of the same size.

    Args:
        examples: where to measure (a held-out split, not the discovery set, to avoid selection bias).
        circuit: the heads kept (a :class:`HeadSet` or ``(layer, head)`` pairs), validated against the model.
        mean: μ used for every ablated head.
        n_random: random same-size sets to compare with.
        seed: seeds the random sets (set ``i`` uses ``random.Random(seed + i)``).
    """
    g = model.geometry
    circuit = HeadSet.of(circuit, geometry=g) if not isinstance(circuit, HeadSet) else circuit.validate(g)
    if not examples:
        raise DiscoveryError("Faithfulness needs examples to evaluate on; got none.")
    if n_random < 0:
        raise DiscoveryError(f"n_random must be >= 0, got {n_random}.")
    batches = [(i, b.to(model.device)) for i, b in iter_batches(task, model.tokenizer, list(examples), batch_size,
                                                                 max_length)]
    every = [(layer, h) for layer in range(g.n_layers) for h in range(g.n_heads)]
    random_sets = [HeadSet.of(random.Random(seed + i).sample(every, len(circuit))) for i in range(n_random)]
    conditions = [("full", None), ("circuit", circuit), ("empty", HeadSet())] + [
        (f"random{i}", s) for i, s in enumerate(random_sets)
    ]
    results = {}
    for name, keep in tqdm(conditions, desc="faithfulness", disable=not progress, leave=False):
        hooks = [] if keep is None else _keep_only(mean, keep, g.n_layers, g.n_heads)
        results[name] = _metrics(model, task, batches, hooks)
    return FaithfulnessResult(
        circuit, results["full"], results["circuit"], results["empty"],
        [results[f"random{i}"] for i in range(n_random)], random_sets, seed,
        {"n_examples": len(examples), "mean": mean.to_dict(), "ablation": "mean"},
    )
