"""Forest plots of paired differences (:func:`circuitlab.analysis.paired_differences`) and forgetting.

One row per comparison × k (pooled last, in bold), a dot at the estimate and a bar for its interval, a
line at 0: whether an interval crosses 0 is the answer the figure gives at a glance.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from circuitlab.plots.style import OKABE_ITO, apply_style, color_map


def _k_label(k) -> str:
    return str(k) if isinstance(k, str) else f"k={float(k):g}"


def paired_forest(table: pd.DataFrame, group: str = "comparison", x_title: str = "Δ target accuracy (a − b)",
                  title: str | None = None) -> go.Figure:
    """Estimates with intervals per ``group`` value and k (``table``: rows of ``paired_differences`` or
    ``forgetting_by_method``, columns ``group, k, delta, ci_lo, ci_hi, n_blocks``)."""
    if table.empty:
        raise ValueError("no rows to plot")
    groups = list(dict.fromkeys(table[group]))
    colors = color_map(map(str, groups)) if group == "method" else {}  # a method keeps its colour
    fig = go.Figure()
    labels: list[str] = []
    for i, g in enumerate(groups):
        sub = table[table[group] == g]
        color = colors.get(str(g)) or OKABE_ITO[i % len(OKABE_ITO)]
        ys = [f"<b>{g}</b> · {_k_label(k)}" if isinstance(k, str) else f"{g} · {_k_label(k)}" for k in sub["k"]]
        labels += ys
        fig.add_trace(go.Scatter(
            x=sub["delta"], y=ys, mode="markers", name=str(g), marker=dict(color=color, size=9),
            error_x=dict(type="data", symmetric=False, array=sub["ci_hi"] - sub["delta"],
                         arrayminus=sub["delta"] - sub["ci_lo"], color=color, thickness=2, width=4),
            customdata=sub[["ci_lo", "ci_hi", "n_blocks"]].to_numpy(),
            hovertemplate="%{y}<br>Δ = %{x:.4f} [%{customdata[0]:.4f}, %{customdata[1]:.4f}]"
                          "<br>blocks: %{customdata[2]}<extra></extra>"))
    fig.add_vline(x=0, line=dict(color="#555", dash="dash", width=1))
    apply_style(fig)
    fig.update_layout(title=title, xaxis_title=x_title, showlegend=False, height=max(260, 26 * len(labels) + 120),
                      yaxis=dict(autorange="reversed", categoryorder="array", categoryarray=labels))
    return fig


__all__ = ["paired_forest"]
