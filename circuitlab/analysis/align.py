"""Compare head scores across models whose grids differ.

Intuition: two models rarely share a layer count or a head count, so "head
(5, 3)" means nothing across them. What they do share is *relative depth*. Each
layer ℓ of an L-layer model sits at the midpoint ``(ℓ + 0.5) / L`` of its span;
the unit interval is cut into ``n_bins`` equal bins, and the heads of every layer
that falls in a bin are pooled into one number (their max or mean score). Both
models then live on the same ``n_bins``-long grid, where Spearman's rho and top-k
overlap are defined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from circuitlab.errors import UserError
from circuitlab.analysis._tables import head_scores
from circuitlab.analysis.stats import spearman_rho
from circuitlab.heads import HeadSet

if TYPE_CHECKING:
    from circuitlab.models.geometry import ModelGeometry

Reduce = Literal["max", "mean", "median", "sum", "absmax"]
_REDUCERS: dict[str, Any] = {
    "max": "max",
    "mean": "mean",
    "median": "median",
    "sum": "sum",
    "absmax": lambda s: s.abs().max(),
}
DEPTH_RULE = "bin = floor((layer + 0.5) / n_layers * n_bins)"


def depth_bin(layer: int | np.ndarray, n_layers: int, n_bins: int) -> int | np.ndarray:
    """The relative-depth bin of ``layer`` (exact integer arithmetic for ``DEPTH_RULE``)."""
    return ((2 * np.asarray(layer) + 1) * n_bins) // (2 * n_layers)


def align_by_depth(df: pd.DataFrame, n_layers: int, n_bins: int, reduce: Reduce = "max") -> pd.DataFrame:
    """Pool a head-score table into ``n_bins`` relative-depth bins.

    Returns one row per bin that holds a scored head: ``bin, score`` (the pooled
    score), ``layer_min, layer_max`` (the layers pooled) and ``n_heads``.
    ``reduce`` is ``"max"`` (does any head at this depth matter?), ``"mean"``,
    ``"median"``, ``"sum"`` or ``"absmax"`` (largest magnitude, sign dropped).
    """
    if reduce not in _REDUCERS:
        raise UserError(f"reduce must be one of {sorted(_REDUCERS)}, got {reduce!r}.")
    if not 1 <= n_bins <= n_layers:
        raise UserError(
            f"n_bins must lie in 1..n_layers={n_layers} so that every bin holds at least one layer, got {n_bins}."
        )
    s = head_scores(df).reset_index()
    too_deep = s["layer"] >= n_layers
    if too_deep.any():
        raise UserError(
            f"The table has layers up to {int(s['layer'].max())} but n_layers={n_layers}; pass the model's geometry."
        )
    s["bin"] = depth_bin(s["layer"].to_numpy(), n_layers, n_bins)
    grouped = s.groupby("bin", sort=True)
    out = pd.DataFrame(
        {
            "score": grouped["score"].agg(_REDUCERS[reduce]),
            "layer_min": grouped["layer"].min(),
            "layer_max": grouped["layer"].max(),
            "n_heads": grouped.size(),
        }
    ).reset_index()
    out.attrs.update(n_layers=n_layers, n_bins=n_bins, reduce=reduce, rule=DEPTH_RULE)
    return out


@dataclass(frozen=True)
class ModelComparison:
    """Result of :func:`compare_models`.

    Attributes:
        spearman: rho between the two models' pooled bin scores.
        jaccard: overlap of the two models' top-k bins.
        top_bins_a, top_bins_b: the top-k bins of each model (highest first).
        aligned: one row per shared bin: ``bin, score_a, score_b``.
        alignment: how the grids were mapped (rule, bins, layers per bin per model).
    """

    spearman: float
    jaccard: float
    top_bins_a: tuple[int, ...]
    top_bins_b: tuple[int, ...]
    aligned: pd.DataFrame = field(repr=False)
    alignment: dict[str, Any] = field(repr=False)


def _top_bins(binned: pd.DataFrame, k: int) -> tuple[int, ...]:
    ordered = binned.sort_values(["score", "bin"], ascending=[False, True], kind="mergesort")
    return tuple(int(b) for b in ordered["bin"].head(k))


def _layers_per_bin(n_layers: int, n_bins: int) -> dict[int, list[int]]:
    bins = depth_bin(np.arange(n_layers), n_layers, n_bins)
    return {int(b): [int(l) for l in np.flatnonzero(bins == b)] for b in range(n_bins)}


def compare_models(
    df_a: pd.DataFrame,
    geom_a: "ModelGeometry",
    df_b: pd.DataFrame,
    geom_b: "ModelGeometry",
    n_bins: int,
    k: int,
    reduce: Reduce = "max",
) -> ModelComparison:
    """Compare two models' head scores on a common relative-depth grid.

    Each table is checked against its model's geometry, pooled with
    :func:`align_by_depth`, and the bins both models hold are compared: Spearman's
    rho over those bins and Jaccard of the top-``k`` bins.
    """
    for df, geom, name in ((df_a, geom_a, "first"), (df_b, geom_b, "second")):
        HeadSet.of(head_scores(df, f"{name} head-score table").index, geometry=geom)
    a = align_by_depth(df_a, geom_a.n_layers, n_bins, reduce)
    b = align_by_depth(df_b, geom_b.n_layers, n_bins, reduce)
    aligned = a[["bin", "score"]].merge(b[["bin", "score"]], on="bin", suffixes=("_a", "_b"))
    if not 1 <= k <= len(aligned):
        raise UserError(f"k must lie in 1..{len(aligned)} (the bins both models hold), got {k}.")
    shared = aligned["bin"]
    top_a = _top_bins(a[a["bin"].isin(shared)], k)
    top_b = _top_bins(b[b["bin"].isin(shared)], k)
    union = set(top_a) | set(top_b)
    alignment = {
        "rule": DEPTH_RULE,
        "n_bins": n_bins,
        "reduce": reduce,
        "k": k,
        "bins_compared": [int(x) for x in shared],
        "model_a": {"name": geom_a.name, "n_layers": geom_a.n_layers, "n_heads": geom_a.n_heads,
                    "layers_per_bin": _layers_per_bin(geom_a.n_layers, n_bins)},
        "model_b": {"name": geom_b.name, "n_layers": geom_b.n_layers, "n_heads": geom_b.n_heads,
                    "layers_per_bin": _layers_per_bin(geom_b.n_layers, n_bins)},
    }
    return ModelComparison(
        spearman=spearman_rho(aligned["score_a"].to_numpy(), aligned["score_b"].to_numpy()),
        jaccard=len(set(top_a) & set(top_b)) / len(union),
        top_bins_a=top_a,
        top_bins_b=top_b,
        aligned=aligned,
        alignment=alignment,
    )
