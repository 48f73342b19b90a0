"""Figures for the trade-offs: editing vs preserving against difficulty,
forgetting vs gain, and accuracy against the number of target examples."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from circuitlab.errors import UserError
from circuitlab.analysis._tables import require_columns
from circuitlab.analysis.aggregate import aggregate_seeds
from circuitlab.analysis.tradeoff import forgetting_vs_gain, rank_correlation_with_ci
from circuitlab.plots.style import OKABE_ITO, apply_style, color_map


def axis_title(measure: str) -> str:
    """``measure`` plus which way is harder, when :data:`DIFFICULTY_MEASURES` knows it (``"a0 (← harder)"``)."""
    from circuitlab.analysis.transfer import DIFFICULTY_MEASURES

    known = DIFFICULTY_MEASURES.get(measure)
    if known is None:
        return measure
    return f"{measure} ({'harder →' if known.harder == 'higher' else '← harder'})"


def _fmt(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.2f}"


def tradeoff_scatter(
    tradeoff_df: pd.DataFrame,
    measure: str,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
    title: str | None = None,
) -> go.Figure:
    """One labelled point per target: difficulty ``measure`` (x) against Δ (y) with its CI.

    Takes the output of :func:`~circuitlab.analysis.editing_vs_preserving`. Spearman's
    rho with a bootstrap interval is computed here and shown in an annotation;
    ``fig.layout.meta`` holds ``{"rho", "lo", "hi", "n", "measure"}``.
    """
    require_columns(tradeoff_df, ["target", "delta", "ci_lo", "ci_hi", measure], "trade-off table")
    df = tradeoff_df.sort_values(measure)
    rho, lo, hi = rank_correlation_with_ci(df[measure], df["delta"], n_boot=n_boot, seed=seed, ci=ci)
    n = int((df[measure].notna() & df["delta"].notna()).sum())
    editing = tradeoff_df.attrs.get("editing", "editing")
    preserving = tradeoff_df.attrs.get("preserving", "preserving")
    fig = go.Figure(
        go.Scatter(
            x=df[measure].tolist(), y=df["delta"].tolist(), mode="markers+text", text=df["target"].astype(str).tolist(),
            textposition="top center", marker=dict(size=11, color=OKABE_ITO[5]), name="targets",
            error_y=dict(type="data", symmetric=False, array=(df["ci_hi"] - df["delta"]).tolist(),
                         arrayminus=(df["delta"] - df["ci_lo"]).tolist(), thickness=1.5),
            hovertemplate="%{text}<br>" + measure + " %{x:.3g}<br>Δ %{y:.3f}<extra></extra>",
        )
    )
    fig.add_hline(y=0, line=dict(color="gray", dash="dot", width=1))
    text = f"Spearman ρ = {_fmt(rho)} [{_fmt(lo)}, {_fmt(hi)}] ({ci:.0%} bootstrap, n = {n})"
    fig.add_annotation(text=text, xref="paper", yref="paper", x=0.0, y=1.0, xanchor="left", yanchor="bottom",
                       showarrow=False, name="rho")
    apply_style(fig)
    fig.update_xaxes(title_text=axis_title(measure))
    fig.update_yaxes(title_text=f"Δ {tradeoff_df.attrs.get('metric', 'target_acc')} ({editing} − {preserving})")
    fig.update_layout(
        title=dict(text=title if title is not None else f"Editing vs preserving against {measure}", y=0.97),
        margin=dict(t=90),
        meta=dict(rho=rho, lo=lo, hi=hi, n=n, measure=measure),
        showlegend=False,
    )
    return fig


def forgetting_vs_gain_scatter(df: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Per method: mean target gain (x) against mean forgetting (y), ± std error bars.

    Accepts :func:`~circuitlab.analysis.forgetting_vs_gain` output, or a raw
    results table (summarised here).
    """
    if "forgetting_mean" not in df.columns:
        df = forgetting_vs_gain(df)
    require_columns(df, ["method", "gain_mean", "gain_std", "forgetting_mean", "forgetting_std"], "forgetting/gain table")
    colors = color_map(df["method"].astype(str))
    fig = go.Figure()
    for row in df.itertuples(index=False):
        fig.add_trace(
            go.Scatter(
                x=[row.gain_mean], y=[row.forgetting_mean], name=str(row.method), mode="markers",
                marker=dict(size=12, color=colors[str(row.method)]),
                error_x=dict(type="data", array=[0.0 if pd.isna(row.gain_std) else row.gain_std]),
                error_y=dict(type="data", array=[0.0 if pd.isna(row.forgetting_std) else row.forgetting_std]),
                hovertemplate=f"{row.method}<br>gain %{{x:.3f}}<br>forgetting %{{y:.3f}}<extra></extra>",
            )
        )
    fig.add_hline(y=0, line=dict(color="gray", dash="dot", width=1))
    apply_style(fig)
    gain = df.attrs.get("gain", "target gain")
    fig.update_xaxes(title_text=f"target gain ({gain})")
    fig.update_yaxes(title_text="forgetting (proxy acc before − after)")
    fig.update_layout(title_text=title if title is not None else "Forgetting vs target gain", legend_title_text="method")
    return fig


def accuracy_vs_shots(
    results_df: pd.DataFrame, metric: str = "target_acc", facet: str | None = "target", title: str | None = None
) -> go.Figure:
    """``metric`` (mean ± std over seeds) against the number of target examples, one line per method.

    With ``facet`` (default ``"target"``) and several values, one panel per value.
    Each (facet, method, shots) group must hold one run per seed: filter to one k.
    """
    require_columns(results_df, ["method", "shots", "seed", metric] + ([facet] if facet else []), "results table")
    by = ([facet] if facet else []) + ["method", "shots"]
    dup = results_df.duplicated(by + ["seed"])
    if dup.any():
        raise UserError(
            f"Several runs share {by + ['seed']} (e.g. {results_df.loc[dup, by + ['seed']].iloc[0].tolist()}); "
            "filter the table to one k/proxy or pass a finer facet."
        )
    agg = aggregate_seeds(results_df, by=by, metrics=[metric])
    panels = sorted(agg[facet].unique().tolist()) if facet else [None]
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True,
                        subplot_titles=[str(p) for p in panels] if facet else None, horizontal_spacing=0.04)
    colors = color_map(agg["method"].astype(str))
    for col, panel in enumerate(panels, start=1):
        sub = agg if panel is None else agg[agg[facet] == panel]
        for method, g in sub.groupby("method", sort=True):
            g = g.sort_values("shots")
            fig.add_trace(
                go.Scatter(
                    x=g["shots"].tolist(), y=g[f"{metric}_mean"].tolist(), mode="lines+markers", name=str(method),
                    legendgroup=str(method), showlegend=col == 1, line=dict(color=colors[str(method)]),
                    error_y=dict(type="data", array=g[f"{metric}_std"].fillna(0.0).tolist()),
                    customdata=g["n"].tolist(),
                    hovertemplate=f"{method}<br>shots %{{x}}<br>{metric} %{{y:.3f}} (n=%{{customdata}})<extra></extra>",
                ),
                row=1, col=col,
            )
    apply_style(fig)
    fig.update_xaxes(title_text="target examples")
    fig.update_yaxes(title_text=f"{metric} (mean ± std over seeds)", col=1)
    fig.update_layout(title_text=title if title is not None else f"{metric} vs target examples", legend_title_text="method")
    return fig
