"""The report's figures: each built by :mod:`circuitlab.plots` (or here) from the run's tables.

A figure that cannot be drawn from what the run holds (one target only for a
correlation, say) becomes a :class:`Figure` with ``fig=None`` and a one-line note,
never a failed report.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from circuitlab.experiments.cells import Plan
from circuitlab.experiments.report_tables import _method_order, difficulty_table, score_tables
from circuitlab.experiments.runfolder import RunFolder


@dataclass
class Figure:
    """One figure of the report (``fig`` is ``None`` when it could not be drawn; ``note`` says why)."""

    name: str
    title: str
    caption: str
    fig: go.Figure | None = None
    note: str = ""


def _accuracy_by_method(results: pd.DataFrame, methods: list[str]) -> go.Figure:
    """Bars: mean target accuracy (± std over seeds) per target, one colour per method; A0 as a marker line."""
    from circuitlab.plots.style import apply_style, color_map

    df = results.copy()
    df["setting"] = df["target"].astype(str)
    if df["shots"].nunique() > 1:
        df["setting"] += " n=" + df["shots"].astype(str)
    if df["proxy"].nunique() > 1:
        df["setting"] = df["proxy"].astype(str) + "→" + df["setting"]
    several_k = df.groupby("method")["k"].transform("nunique") > 1
    df["series"] = [f"{m} k={k:g}" if many and pd.notna(k) else str(m)
                    for m, k, many in zip(df["method"], df["k"], several_k)]
    order = _method_order(df, methods)
    series = sorted(df["series"].unique(), key=lambda s: (order.index(s.split(" ")[0]), s))
    colors = color_map(order)
    settings = list(dict.fromkeys(df.sort_values(["proxy", "target", "shots"])["setting"]))
    fig = go.Figure()
    for s in series:
        g = df[df["series"] == s].groupby("setting")["target_acc"].agg(["mean", "std", "count"]).reindex(settings)
        fig.add_trace(go.Bar(
            x=settings, y=g["mean"].tolist(), name=s, marker_color=colors[s.split(" ")[0]],
            error_y=dict(type="data", array=g["std"].fillna(0).tolist(), visible=True),
            customdata=g["count"].fillna(0).astype(int).tolist(),
            hovertemplate=f"{s}<br>%{{x}}<br>target acc %{{y:.3f}} (seeds: %{{customdata}})<extra></extra>",
        ))
    if "target_acc_before" in df.columns and df["target_acc_before"].notna().any():
        a0 = df[df["method"] != "direct"].groupby("setting")["target_acc_before"].mean().reindex(settings)
        fig.add_trace(go.Scatter(x=settings, y=a0.tolist(), mode="markers", name="A0 (θ1 before tuning)",
                                 marker=dict(symbol="line-ew-open", size=40, color="black", line=dict(width=2)),
                                 hovertemplate="A0 %{y:.3f}<extra></extra>"))
    apply_style(fig)
    fig.update_layout(barmode="group", title_text="Target accuracy after tuning (mean ± std over seeds)",
                      legend_title_text="method")
    fig.update_yaxes(title_text="target accuracy", rangemode="tozero")
    return fig


def build_figures(run: RunFolder, results: pd.DataFrame, p: Plan, methods: list[str], k_list: list) -> list[Figure]:
    """Every figure the run's tables allow (see the module docstring)."""
    from circuitlab import plots
    from circuitlab.analysis import compare_languages, editing_vs_preserving

    figs: list[Figure] = []

    def attempt(name: str, title: str, caption: str, make) -> None:
        try:
            fig = make()
            figs.append(Figure(name, title, caption, fig))
        except Exception as exc:  # noqa: BLE001 - a figure must never break the report
            figs.append(Figure(name, title, caption, None, f"not drawn: {exc}"))

    have = not results.empty and results["target_acc"].notna().any()
    if have:
        attempt("accuracy_by_method", "Target accuracy by method",
                "Mean target-test accuracy over seeds per method (error bars: std over seeds); the black tick is "
                "A0, the proxy checkpoint's accuracy on the target before any target tuning.",
                lambda: _accuracy_by_method(results, methods))
        if results["shots"].nunique() > 1:
            for k in k_list:
                sub = results[results["k"].isna() | (results["k"] == k)]
                attempt(f"accuracy_vs_shots_k{k:g}", f"Accuracy against target examples (k={k:g})",
                        "Mean ± std over seeds; methods without a head budget are the same in every k panel.",
                        lambda sub=sub: plots.accuracy_vs_shots(sub, facet="target" if sub["target"].nunique() > 1
                                                                else None))
        if results["forgetting"].notna().any():
            attempt("forgetting_vs_gain", "Forgetting against target gain",
                    "Per method, mean over every cell: x = target accuracy gained over A0, y = proxy accuracy lost "
                    "(θ1's proxy accuracy before − after target tuning). Up-left is bad, down-right is good.",
                    lambda: plots.forgetting_vs_gain_scatter(results.dropna(subset=["forgetting"])))
        methods_present = set(results["method"])
        if {"circuit", "nearzero"} <= methods_present:
            diff = difficulty_table(run, p)
            diff = diff[diff["model"] != "base model"][["target", "a0", "gap"]].drop_duplicates("target")
            k0 = k_list[0]
            for shots in sorted(results["shots"].unique()):
                sub = results[(results["shots"] == shots) & (results["k"].isna() | (results["k"] == k0))]
                attempt(f"editing_vs_preserving_n{shots}", f"Editing vs preserving against difficulty (n={shots}, "
                        f"k={k0:g})",
                        "Per target: Δ = mean target accuracy of circuit (editing) − nearzero (preserving), paired "
                        "over seeds, with a t interval; x = A0 (lower = harder transfer). Spearman ρ with a bootstrap "
                        "interval in the corner (undefined with fewer than three targets).",
                        lambda sub=sub: plots.tradeoff_scatter(editing_vs_preserving(sub, diff), "a0"))
    tables = score_tables(run, p)
    for (proxy, language), df in tables.items():
        if language != proxy:
            continue
        from circuitlab.discovery.selection import select_heads

        k0 = next((k for k in k_list), None)
        selected = None
        if k0 is not None:
            try:
                from circuitlab.discovery.scores import HeadScores

                selected = select_heads(HeadScores(df), k0, "top")
            except Exception:  # noqa: BLE001
                selected = None
        scorer = str(df["method"].iloc[0]) if "method" in df.columns and len(df) else "discovery"
        n_nan = int(df["score"].isna().sum())
        caption = ("Discovery scores of every attention head (layer × head) of the proxy checkpoint on the proxy "
                   "language" + (f"; outlined: the top-{k0:g} circuit." if k0 is not None else "."))
        if n_nan:
            caption += f" {n_nan} head(s) have no score (NaN, blank): the scorer returned none for them."
        attempt(f"head_scores_{proxy}", f"Head scores on {proxy} (θ1)", caption,
                lambda df=df, selected=selected, scorer=scorer: plots.head_heatmap(
                    df, selected=selected, title=f"{scorer} scores of θ1's heads on {proxy}"))
    by_proxy: dict[str, dict[str, pd.DataFrame]] = {}
    for (proxy, language), df in tables.items():
        by_proxy.setdefault(proxy, {})[language] = df
    for proxy, langs in by_proxy.items():
        if len(langs) < 2 or proxy not in langs:
            continue
        k0 = k_list[0] if k_list else 6
        n_heads = len(langs[proxy])
        k_int = k0 if isinstance(k0, int) else max(1, round(k0 * n_heads))
        ordered = {proxy: langs[proxy], **{lang: t for lang, t in langs.items() if lang != proxy}}
        comp = None
        try:
            comp = compare_languages(ordered, k=k_int, reference=proxy, n_perm=500)
        except Exception as exc:  # noqa: BLE001
            figs.append(Figure(f"overlap_{proxy}", "Circuit overlap across languages", "", None, f"not drawn: {exc}"))
        if comp is not None:
            attempt(f"overlap_curves_{proxy}", f"Circuit overlap: {proxy} vs each target",
                    f"Jaccard of the top-k heads found on {proxy} and on each target language (same θ1, same "
                    "scorer) against k, over the permutation chance band.",
                    lambda comp=comp: plots.overlap_curves_plot(comp.curves))
            attempt(f"overlap_matrix_{proxy}", f"Top-{k_int} circuit overlap between languages",
                    "Pairwise Jaccard of the top-k heads per language.",
                    lambda comp=comp: plots.overlap_matrix_plot(comp.jaccard))
    return figs


__all__ = ["Figure", "build_figures"]
