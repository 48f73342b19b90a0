"""Layer × head heatmaps of head scores.

Rows are layers (layer 0 at the top, as in TransformerLens), columns are heads.
Signed scores use a diverging scale centred on zero, so "pushes toward the
gold label" and "pushes away" read as two colours and a near-zero head as white.
Selected heads (the circuit) are outlined with rectangle shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from circuitlab.errors import UserError
from circuitlab.analysis._tables import HEAD_KEY, as_frame, head_scores
from circuitlab.heads import HeadSet
from circuitlab.plots.style import DIVERGING, OUTLINE_COLOR, SEQUENTIAL, apply_style

HOVER = "layer %{y}, head %{x}<br>score %{z:.4g}<br>rank %{customdata[0]}<extra></extra>"


def _grid(scores: pd.Series) -> tuple[list[int], list[int], np.ndarray]:
    """Scores indexed by (layer, head) as a full ``[n_layers, n_heads]`` array (NaN where absent)."""
    layers = list(range(int(scores.index.get_level_values("layer").max()) + 1))
    heads = list(range(int(scores.index.get_level_values("head").max()) + 1))
    full = pd.MultiIndex.from_product([layers, heads], names=HEAD_KEY)
    z = scores.reindex(full).to_numpy(dtype=float).reshape(len(layers), len(heads))
    return layers, heads, z


def _ranks(df: pd.DataFrame, scores: pd.Series) -> pd.Series:
    """The table's ``rank`` column, or ranks computed from the scores (1 = highest)."""
    if "rank" in df.columns:
        return df.set_index(HEAD_KEY)["rank"].reindex(scores.index)
    return scores.rank(ascending=False, method="min")  # NaN scores have no rank


def _z_list(z: np.ndarray) -> list[list[float | None]]:
    return [[None if np.isnan(v) else float(v) for v in row] for row in z]


def describe(df: pd.DataFrame) -> str:
    """A short title from the table's unique ``method · model · language`` (what is present)."""
    df = as_frame(df)
    parts = [str(df[c].iloc[0]) for c in ("method", "model", "language") if c in df.columns and df[c].nunique() == 1]
    return " · ".join(parts) or "head scores"


def _outline(fig: go.Figure, selected: HeadSet | None, row: int | None = None, col: int | None = None) -> None:
    for h in selected or ():
        fig.add_shape(
            type="rect", x0=h.head - 0.5, x1=h.head + 0.5, y0=h.layer - 0.5, y1=h.layer + 0.5,
            line=dict(color=OUTLINE_COLOR, width=2.5), fillcolor="rgba(0,0,0,0)", opacity=1, layer="above", name=str(h),
            row=row, col=col,
        )


MISSING_COLOR = "#bdbdbd"


def _missing(fig: go.Figure, z: list[list[float | None]], heads: list[int], layers: list[int],
             row: int | None = None, col: int | None = None) -> int:
    """Grey out cells whose score is NaN (otherwise they would look like a white, zero score); return their count.

    A second heatmap trace, ``"no score"``, is drawn on top of the NaN cells only.
    """
    mask = [[1.0 if v is None else None for v in r] for r in z]
    n = sum(v is not None for r in mask for v in r)
    if n:
        fig.add_trace(
            go.Heatmap(x=heads, y=layers, z=mask, colorscale=[[0, MISSING_COLOR], [1, MISSING_COLOR]], showscale=False,
                       xgap=1, ygap=1, name="no score", hovertemplate="layer %{y}, head %{x}<br>no score (NaN)<extra></extra>"),
            row=row, col=col,
        )
    return n


def _note(fig: go.Figure, text: str, name: str) -> None:
    """A small note under the plot (the bottom margin grows to hold it)."""
    k = sum(1 for a in fig.layout.annotations if a.name in ("clipped", "missing"))
    fig.add_annotation(text=text, name=name, xref="paper", yref="paper", x=0.0, y=-0.1 - 0.05 * k, xanchor="left",
                       yanchor="top", showarrow=False, font=dict(size=11))
    fig.update_layout(margin=dict(b=80 + 22 * (k + 1)))


def _heatmap_trace(df: pd.DataFrame, normalise: bool = False, **kwargs: object) -> go.Heatmap:
    df = as_frame(df)
    scores = head_scores(df)
    ranks = _ranks(df, scores)
    if normalise:
        peak = float(scores.abs().max())
        scores = scores / peak if peak > 0 else scores
    layers, heads, z = _grid(scores)
    _, _, r = _grid(ranks.astype(float))
    custom = np.where(np.isnan(r), None, r).astype(object)[..., None]
    return go.Heatmap(x=heads, y=layers, z=_z_list(z), customdata=custom, hovertemplate=HOVER, xgap=1, ygap=1, **kwargs)


def _axes(fig: go.Figure) -> None:
    fig.update_xaxes(title_text="head", dtick=1, showgrid=False, ticks="", showline=False)
    fig.update_yaxes(title_text="layer", autorange="reversed", dtick=1, showgrid=False, ticks="", showline=False)


def robust_limit(scores: pd.Series, quantile: float = 0.98) -> float | None:
    """A symmetric colour limit: the ``quantile`` of |score| (NaN ignored); ``None`` if it is 0 or undefined."""
    if not 0.0 < quantile <= 1.0:
        raise UserError(f"quantile must lie in (0, 1], got {quantile}.")
    values = scores.abs().dropna()
    if values.empty:
        return None
    limit = float(values.quantile(quantile))
    return limit if limit > 0 else None


def head_heatmap(
    scores_df: pd.DataFrame,
    selected: HeadSet | None = None,
    title: str | None = None,
    normalise: bool = False,
    robust: bool | float = False,
    zlimit: float | None = None,
) -> go.Figure:
    """Layer × head heatmap of one score table, diverging around 0, ``selected`` heads outlined.

    Hover shows layer, head, score and rank. ``normalise`` divides by max |score|
    (for comparing scorers with different units). ``robust`` (``True`` = 0.98, or a
    quantile) clips the colour range to ±that quantile of |score|, so that one
    extreme head does not wash out all the others; the values (hover, data) are
    unchanged, and an annotation says how many heads lie beyond the range.
    ``zlimit`` sets that symmetric limit explicitly (it overrides ``robust``).
    """
    fig = go.Figure(_heatmap_trace(scores_df, normalise, colorscale=DIVERGING, zmid=0,
                                   colorbar=dict(title="score / max|score|" if normalise else "score")))
    main = fig.data[0]
    apply_style(fig)
    if robust or zlimit is not None:
        scores = pd.Series([v for row in main.z for v in row if v is not None], dtype=float)
        limit = zlimit if zlimit is not None else robust_limit(scores, 0.98 if robust is True else float(robust))
        if limit is not None:
            beyond = int((scores.abs() > limit).sum())
            fig.update_traces(zmin=-limit, zmax=limit, zmid=None, selector=0)
            if beyond:
                _note(fig, f"colour range clipped at ±{limit:.3g}; {beyond} head(s) beyond "
                           f"(max |score| {scores.abs().max():.3g})", "clipped")
    missing = _missing(fig, main.z, list(main.x), list(main.y))
    if missing:
        _note(fig, f"grey: {missing} head(s) without a score (NaN)", "missing")
    _outline(fig, selected)
    _axes(fig)
    fig.update_layout(title_text=title if title is not None else describe(scores_df))
    return fig


def side_by_side(
    df_a: pd.DataFrame,
    df_b: pd.DataFrame,
    labels: Sequence[str] = ("A", "B"),
    selected: Sequence[HeadSet | None] = (None, None),
    title: str | None = None,
    normalise: bool = False,
) -> go.Figure:
    """Two score tables next to each other on one shared colour axis centred on 0 (``coloraxis.cmid``)."""
    if len(labels) != 2 or len(selected) != 2:
        raise UserError(f"side_by_side needs two labels and two selections, got {list(labels)} and {len(selected)}.")
    fig = make_subplots(rows=1, cols=2, subplot_titles=list(labels), shared_yaxes=True, horizontal_spacing=0.05)
    for col, (df, label, sel) in enumerate(zip((df_a, df_b), labels, selected), start=1):
        trace = _heatmap_trace(df, normalise, coloraxis="coloraxis", name=label)
        fig.add_trace(trace, row=1, col=col)
        _missing(fig, trace.z, list(trace.x), list(trace.y), row=1, col=col)
        _outline(fig, sel, row=1, col=col)
    apply_style(fig)
    _axes(fig)
    fig.update_yaxes(title_text=None, col=2)
    fig.update_layout(
        coloraxis=dict(colorscale=DIVERGING, cmid=0, colorbar=dict(title="score / max|score|" if normalise else "score")),
        title_text=title if title is not None else f"{labels[0]} vs {labels[1]}",
    )
    return fig


def difference_heatmap(
    df_a: pd.DataFrame,
    df_b: pd.DataFrame,
    labels: Sequence[str] = ("A", "B"),
    title: str | None = None,
    normalise: bool = False,
    zlimit: float | None = None,
) -> go.Figure:
    """Heatmap of ``score_a − score_b`` per head (diverging around 0); heads missing or NaN in either are grey.

    ``zlimit`` clips the colour range to ±``zlimit`` (values unchanged; a note says how many lie beyond).
    """
    sa, sb = head_scores(df_a, "first head-score table"), head_scores(df_b, "second head-score table")
    if normalise:
        sa, sb = sa / (sa.abs().max() or 1.0), sb / (sb.abs().max() or 1.0)
    diff = sa.sub(sb)  # outer-aligned on (layer, head): NaN where a head is in one table only
    layers, heads, z = _grid(diff)
    _, _, za = _grid(sa.reindex(diff.index))
    _, _, zb = _grid(sb.reindex(diff.index))
    custom = np.stack([za, zb], axis=-1)
    fig = go.Figure(
        go.Heatmap(
            x=heads, y=layers, z=_z_list(z), customdata=custom, zmid=0, colorscale=DIVERGING, xgap=1, ygap=1,
            colorbar=dict(title=f"{labels[0]} − {labels[1]}"),
            hovertemplate=(
                f"layer %{{y}}, head %{{x}}<br>{labels[0]} %{{customdata[0]:.4g}}<br>"
                f"{labels[1]} %{{customdata[1]:.4g}}<br>difference %{{z:.4g}}<extra></extra>"
            ),
        )
    )
    apply_style(fig)
    if zlimit is not None:
        finite = pd.Series(z.ravel()).dropna()
        fig.update_traces(zmin=-zlimit, zmax=zlimit, zmid=None, selector=0)
        beyond = int((finite.abs() > zlimit).sum())
        if beyond:
            _note(fig, f"colour range clipped at ±{zlimit:.3g}; {beyond} head(s) beyond", "clipped")
    missing = _missing(fig, _z_list(z), heads, layers)
    if missing:
        _note(fig, f"grey: {missing} head(s) without a score in one of the tables (NaN)", "missing")
    _axes(fig)
    fig.update_layout(title_text=title if title is not None else f"{labels[0]} − {labels[1]}")
    return fig


def stability_heatmap(freq_df: pd.DataFrame, title: str | None = None, threshold: float | None = 0.5) -> go.Figure:
    """Layer × head heatmap of top-k frequency under bootstrap (:func:`~circuitlab.analysis.bootstrap_topk_frequency`).

    Sequential colour scale on [0, 1]; heads whose frequency is at least
    ``threshold`` are outlined (``None``: no outline). Hover shows the count out
    of ``n_boot``.
    """
    from circuitlab.analysis._tables import require_columns

    require_columns(freq_df, ["layer", "head", "frequency"], "top-k frequency table")
    freq = freq_df.set_index(HEAD_KEY)["frequency"].astype(float).sort_index()
    layers, heads, z = _grid(freq)
    n_boot = freq_df.attrs.get("n_boot")
    k = freq_df.attrs.get("k")
    fig = go.Figure(go.Heatmap(
        x=heads, y=layers, z=_z_list(z), zmin=0, zmax=1, colorscale=SEQUENTIAL, xgap=1, ygap=1,
        colorbar=dict(title=f"P(top-{k})" if k is not None else "frequency"),
        hovertemplate="layer %{y}, head %{x}<br>in top-k in %{z:.0%} of resamples<extra></extra>",
    ))
    if threshold is not None:
        stable = freq_df[freq_df["frequency"] >= threshold]
        _outline(fig, HeadSet.of(zip(stable["layer"], stable["head"])))
    apply_style(fig)
    _axes(fig)
    default = f"Top-{k} stability over {n_boot} bootstrap resamples" if k is not None else "Top-k stability"
    fig.update_layout(title_text=title if title is not None else default)
    return fig
