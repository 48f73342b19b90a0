"""Figures that compare rankings: overlap against chance, and pairwise matrices."""

from __future__ import annotations

from typing import Literal

import pandas as pd
import plotly.graph_objects as go

from circuitlab.analysis._tables import require_columns
from circuitlab.plots.style import BAND_COLOR, DIVERGING, OKABE_ITO, SEQUENTIAL, apply_style


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
        raise ValueError(f"measure must be 'jaccard' or 'spearman', got {measure!r}.")
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
