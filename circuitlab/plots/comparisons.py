"""Figures that compare rankings: overlap against chance, and pairwise matrices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import pandas as pd
import plotly.graph_objects as go

from circuitlab.errors import UserError
from circuitlab.analysis._tables import require_columns
from circuitlab.plots.style import BAND_COLOR, DIVERGING, OKABE_ITO, SEQUENTIAL, apply_style

if TYPE_CHECKING:
    from circuitlab.analysis.align import ModelComparison


def overlap_curve_plot(curve_df: pd.DataFrame, title: str | None = None, label: str = "observed") -> go.Figure:
    """Top-k Jaccard against k, over the permutation chance band (from :func:`~circuitlab.analysis.overlap_curve`).

    Traces: ``chance (upper)`` (invisible edge), ``chance band`` (filled to it),
    ``chance mean`` (dashed) and the observed curve.
    """
    require_columns(curve_df, ["k", "jaccard", "chance_mean", "chance_lo", "chance_hi"], "overlap curve")
    ci = curve_df.attrs.get("ci", 0.95)
    k = curve_df["k"].tolist()
    fig = go.Figure(
        [
            go.Scatter(x=k, y=curve_df["chance_hi"].tolist(), mode="lines", line=dict(width=0), name="chance (upper)",
                       showlegend=False, hoverinfo="skip"),
            go.Scatter(x=k, y=curve_df["chance_lo"].tolist(), mode="lines", line=dict(width=0), fill="tonexty",
                       fillcolor=BAND_COLOR, name=f"chance band ({ci:.0%})", hoverinfo="skip"),
            go.Scatter(x=k, y=curve_df["chance_mean"].tolist(), mode="lines", line=dict(color="gray", dash="dash"),
                       name="chance mean", hovertemplate="k=%{x}<br>chance %{y:.3f}<extra></extra>"),
            go.Scatter(x=k, y=curve_df["jaccard"].tolist(), mode="lines+markers", line=dict(color=OKABE_ITO[4]),
                       name=label, hovertemplate="k=%{x}<br>Jaccard %{y:.3f}<extra></extra>"),
        ]
    )
    apply_style(fig)
    fig.update_xaxes(title_text="k (top heads)")
    fig.update_yaxes(title_text="Jaccard of top-k", range=[0, 1.02])
    fig.update_layout(title_text=title if title is not None else "Top-k overlap vs chance")
    return fig


def overlap_matrix_plot(
    matrix_df: pd.DataFrame, title: str | None = None, measure: Literal["jaccard", "spearman"] | None = None
) -> go.Figure:
    """Annotated square heatmap of a pairwise matrix (:func:`overlap_matrix` or :func:`spearman_matrix`).

    Jaccard uses a sequential scale on [0, 1]; Spearman a diverging one on
    [-1, 1] centred at 0. ``measure`` defaults to ``matrix_df.attrs["measure"]``.
    """
    measure = measure or matrix_df.attrs.get("measure", "jaccard")
    if measure not in ("jaccard", "spearman"):
        raise UserError(f"measure must be 'jaccard' or 'spearman', got {measure!r}.")
    scale = dict(colorscale=SEQUENTIAL, zmin=0, zmax=1) if measure == "jaccard" else dict(
        colorscale=DIVERGING, zmin=-1, zmax=1, zmid=0)
    rows, cols = [str(i) for i in matrix_df.index], [str(c) for c in matrix_df.columns]
    fig = go.Figure(
        go.Heatmap(
            z=matrix_df.to_numpy(dtype=float).tolist(), x=cols, y=rows, texttemplate="%{z:.2f}",
            colorbar=dict(title=measure), hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>", **scale,
        )
    )
    apply_style(fig)
    fig.update_yaxes(autorange="reversed", showline=False, ticks="")
    fig.update_xaxes(showline=False, ticks="", side="bottom")
    k = matrix_df.attrs.get("k")
    default = {"jaccard": f"Top-{k} Jaccard" if k is not None else "Top-k Jaccard", "spearman": "Spearman ρ"}[measure]
    fig.update_layout(title_text=title if title is not None else default)
    return fig


def overlap_curves_plot(curves_df: pd.DataFrame, title: str | None = None, column: str = "language") -> go.Figure:
    """Top-k Jaccard against k for several comparisons at once, over one chance band.

    Takes ``LanguageComparison.curves`` (or any stack of :func:`overlap_curve`
    outputs with a ``column`` naming each curve). The chance band of a random
    k-subset depends only on k and the grid, so the first curve's band is drawn
    once. Traces: ``chance (upper)``, ``chance band``, ``chance mean``, then one
    line per value of ``column`` (in order of appearance).
    """
    require_columns(curves_df, [column, "k", "jaccard", "chance_mean", "chance_lo", "chance_hi"], "overlap curves")
    names = list(dict.fromkeys(curves_df[column].astype(str)))
    if not names:
        raise UserError("overlap_curves_plot got an empty table.")
    first = curves_df[curves_df[column].astype(str) == names[0]]
    fig = overlap_curve_plot(first, label=names[0])
    fig.data = fig.data[:3]
    palette = [c for c in OKABE_ITO if c != OKABE_ITO[3]]  # yellow is hard to read as a thin line on white
    for i, name in enumerate(names):
        g = curves_df[curves_df[column].astype(str) == name].sort_values("k")
        fig.add_trace(go.Scatter(
            x=g["k"].tolist(), y=g["jaccard"].tolist(), mode="lines+markers", name=name,
            line=dict(color=palette[i % len(palette)]), marker=dict(size=5),
            hovertemplate=f"{name}<br>k=%{{x}}<br>Jaccard %{{y:.3f}}<extra></extra>",
        ))
    reference = curves_df.attrs.get("reference")
    default = f"Top-k overlap with {reference} vs chance" if reference else "Top-k overlap vs chance"
    fig.update_layout(title_text=title if title is not None else default, legend_title_text=column)
    return fig


def model_alignment_plot(comparison: "ModelComparison", labels: tuple[str, str] | None = None,
                         title: str | None = None) -> go.Figure:
    """Pooled head scores of two models on their shared relative-depth grid (a :class:`ModelComparison`).

    One line per model (x = relative-depth bin, centre of the bin in [0, 1]); each
    model's top-k bins are marked with a larger marker; the annotation gives
    Spearman's rho and the top-k Jaccard; hover lists the layers pooled in the bin.
    """
    al = comparison.alignment
    n_bins = int(al["n_bins"])
    names = labels or (str(al["model_a"]["name"]), str(al["model_b"]["name"]))
    aligned = comparison.aligned.sort_values("bin")
    centres = ((aligned["bin"] + 0.5) / n_bins).tolist()
    fig = go.Figure()
    for side, name, color, top in (("a", names[0], OKABE_ITO[5], comparison.top_bins_a),
                                   ("b", names[1], OKABE_ITO[4], comparison.top_bins_b)):
        layers = al[f"model_{side}"]["layers_per_bin"]
        text = [f"layers {layers.get(int(b), layers.get(str(int(b)), []))}" for b in aligned["bin"]]
        size = [13 if int(b) in top else 6 for b in aligned["bin"]]
        fig.add_trace(go.Scatter(
            x=centres, y=aligned[f"score_{side}"].tolist(), mode="lines+markers", name=name, text=text,
            line=dict(color=color), marker=dict(size=size, color=color),
            hovertemplate=f"{name}<br>relative depth %{{x:.2f}}<br>{al['reduce']} score %{{y:.4g}}<br>%{{text}}<extra></extra>",
        ))
    fig.add_annotation(
        text=f"Spearman ρ = {comparison.spearman:.2f}; top-{al['k']} Jaccard = {comparison.jaccard:.2f} "
             f"({n_bins} depth bins, {al['reduce']} per bin)",
        xref="paper", yref="paper", x=0.0, y=1.0, xanchor="left", yanchor="bottom", showarrow=False, name="summary",
    )
    apply_style(fig)
    fig.update_xaxes(title_text="relative depth (layer + 0.5) / n_layers", range=[0, 1])
    fig.update_yaxes(title_text=f"{al['reduce']} head score in bin")
    fig.update_layout(title=dict(text=title if title is not None else f"{names[0]} vs {names[1]} by relative depth",
                                 y=0.97), margin=dict(t=90), legend_title_text="model")
    return fig
