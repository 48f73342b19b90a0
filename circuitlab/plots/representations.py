"""Representation similarity across languages: linear CKA per layer."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from circuitlab.analysis._tables import require_columns
from circuitlab.plots.style import OKABE_ITO, apply_style


def cka_plot(cka_df: pd.DataFrame, title: str | None = None, column: str = "target",
             x: str = "layer") -> go.Figure:
    """Linear CKA against layer, one line per ``column`` value, with the shuffled-pairing level dashed.

    Takes ``TransferDifficulty.cka`` (or one :func:`representation_similarity` table,
    which needs no ``column``). ``x`` is ``"layer"`` or ``"relative_depth"``. Traces
    come in pairs per value: ``<name>`` (solid) then ``<name> (shuffled)`` (dashed,
    same colour, one legend group).
    """
    df = cka_df if column in cka_df.columns else cka_df.assign(**{column: "cka"})
    require_columns(df, [column, x, "cka"], "CKA table")
    palette = [c for c in OKABE_ITO if c != OKABE_ITO[3]]
    fig = go.Figure()
    for i, (name, g) in enumerate(df.groupby(column, sort=False)):
        g = g.sort_values(x)
        color = palette[i % len(palette)]
        fig.add_trace(go.Scatter(
            x=g[x].tolist(), y=g["cka"].tolist(), mode="lines+markers", name=str(name), legendgroup=str(name),
            line=dict(color=color), hovertemplate=f"{name}<br>{x} %{{x}}<br>CKA %{{y:.3f}}<extra></extra>",
        ))
        if "cka_shuffled" in g.columns:
            fig.add_trace(go.Scatter(
                x=g[x].tolist(), y=g["cka_shuffled"].tolist(), mode="lines", name=f"{name} (shuffled)",
                legendgroup=str(name), showlegend=False, line=dict(color=color, dash="dot", width=1),
                hovertemplate=f"{name}, pairing shuffled<br>{x} %{{x}}<br>CKA %{{y:.3f}}<extra></extra>",
            ))
    apply_style(fig)
    fig.update_xaxes(title_text="layer" if x == "layer" else "relative depth")
    fig.update_yaxes(title_text="linear CKA (dotted: pairing shuffled)", range=[0, 1.02])
    fig.update_layout(title_text=title if title is not None else "Representation similarity to the proxy per layer",
                      legend_title_text=column)
    return fig


__all__ = ["cka_plot"]
