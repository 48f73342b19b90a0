"""Choosing a circuit from head scores.

All strategies return a :class:`~circuitlab.heads.HeadSet` of exactly ``k`` heads:

- ``top``: the ``k`` highest scores (the CT-SFT *circuit*, editing branch);
- ``nearzero``: the ``k`` heads whose ``|score|`` is closest to zero (the
  *preserving* branch: adapt heads that do not carry the proxy mechanism);
- ``bottom``: the ``k`` lowest scores (least relevant);
- ``random``: ``k`` heads drawn uniformly with a seed.

``k`` is a count, or a fraction of all heads when it is a float in (0, 1).
Ties are broken by (layer, head), so selections are deterministic. Heads whose
score is ``NaN`` (they cannot reach the scoring target) are never selected.
"""

from __future__ import annotations

import random
from typing import Literal

from circuitlab.errors import UserError
from circuitlab.discovery.scores import HeadScores
from circuitlab.heads import Head, HeadSet

Strategy = Literal["top", "nearzero", "bottom", "random"]
STRATEGIES: tuple[str, ...] = ("top", "nearzero", "bottom", "random")


def resolve_k(k: int | float, n_total: int) -> int:
    """Turn a count or a fraction into a count, checking it fits the model."""
    if isinstance(k, float) and not k.is_integer():
        if not 0 < k < 1:
            raise UserError(f"A fractional k must be in (0, 1), got {k}.")
        return max(1, round(k * n_total))
    k = int(k)
    if k < 1:
        raise UserError(f"k must be at least 1, got {k}.")
    if k > n_total:
        raise UserError(f"k={k} is larger than the {n_total} heads available; choose k <= {n_total}.")
    return k


def select_heads(
    scores: HeadScores, k: int | float, how: Strategy = "top", seed: int = 0, exclude: HeadSet | None = None
) -> HeadSet:
    """Select ``k`` heads from ``scores`` by strategy ``how`` (see module docstring)."""
    if how not in STRATEGIES:
        raise UserError(f"Unknown selection {how!r}; choose one of {STRATEGIES}.")
    df = scores.table
    df = df[df["score"].notna()]
    if exclude is not None and len(exclude):
        keep = [Head(int(l), int(h)) not in exclude for l, h in zip(df["layer"], df["head"])]
        df = df[keep]
    n = resolve_k(k, len(df))
    df = df.sort_values(["layer", "head"])
    if how == "random":
        pool = [(int(l), int(h)) for l, h in zip(df["layer"], df["head"])]
        return HeadSet.of(random.Random(seed).sample(pool, n))
    key = {"top": -df["score"], "bottom": df["score"], "nearzero": df["score"].abs()}[how]
    chosen = df.assign(_key=key).sort_values(["_key", "layer", "head"], kind="stable").head(n)
    return HeadSet.of(zip(chosen["layer"].astype(int), chosen["head"].astype(int)))
