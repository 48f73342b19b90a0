"""How stable is a discovered circuit under resampling of the discovery set?

Intuition: the circuit is the top-k of scores averaged over ~50 examples. Rerun
the scorer on bootstrap resamples of those examples and count how often each
head lands in the top-k: heads near 1.0 are robust, heads near k/N are noise.
Because the mean baseline relies on a label-balanced set, the resampling can be
stratified (pass the labels as ``strata``) so every resample stays balanced.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from circuitlab.errors import UserError
from circuitlab.analysis._tables import head_scores
from circuitlab.analysis.overlap import top_k_heads

E = TypeVar("E")


def _resample(n: int, strata: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    if strata is None:
        return rng.integers(0, n, n)
    parts = []
    for value in pd.unique(strata):
        members = np.flatnonzero(strata == value)
        parts.append(members[rng.integers(0, len(members), len(members))])
    return np.concatenate(parts)


def bootstrap_topk_frequency(
    score_fn: Callable[[list[E]], pd.DataFrame],
    examples: Sequence[E],
    k: int,
    n_boot: int = 100,
    seed: int = 0,
    strata: Sequence[Hashable] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Per-head frequency of being in the top-``k`` over ``n_boot`` bootstrap resamples.

    ``score_fn(examples) -> head-score table`` is called once per resample of
    ``examples`` (drawn with replacement, seeded; within each stratum when
    ``strata`` gives one label per example). Returns ``layer, head, count,
    frequency`` for every head that any resample scored, most frequent first;
    ``attrs`` records ``k``, ``n_boot``, ``seed`` and whether it was stratified.
    """
    if n_boot < 1:
        raise UserError(f"n_boot must be at least 1, got {n_boot}.")
    if len(examples) == 0:
        raise UserError("bootstrap_topk_frequency got no examples.")
    labels = None
    if strata is not None:
        if len(strata) != len(examples):
            raise UserError(f"strata must give one label per example: {len(strata)} labels for {len(examples)} examples.")
        labels = np.asarray(list(strata), dtype=object)
    rng = np.random.default_rng(seed)
    counts: dict[tuple[int, int], int] = {}
    for _ in tqdm(range(n_boot), desc="bootstrap top-k", disable=not progress):
        idx = _resample(len(examples), labels, rng)
        scores = score_fn([examples[i] for i in idx])
        for head in head_scores(scores).index:
            counts.setdefault((int(head[0]), int(head[1])), 0)
        for h in top_k_heads(scores, k):
            counts[(h.layer, h.head)] += 1
    out = pd.DataFrame([(l, h, c) for (l, h), c in counts.items()], columns=["layer", "head", "count"])
    out["frequency"] = out["count"] / n_boot
    out = out.sort_values(["frequency", "layer", "head"], ascending=[False, True, True], kind="mergesort")
    out = out.reset_index(drop=True)
    out.attrs.update(k=k, n_boot=n_boot, seed=seed, stratified=strata is not None)
    return out
