"""One self-contained, offline ``report.html`` per run folder.

Context
-------
A run is shared by sending one file. The report embeds plotly.js exactly once,
inline (no CDN, no network), followed by every figure as a ``<div>`` plus a small
JSON payload, and the tables as plain HTML. It is rebuilt from the run folder
alone (``cells/``, ``stages/``, ``manifest.json``), so ``circuitlab report RUN``
works on a partial run, after a resume, or on another machine.

Sections: the headline table (mean ± std over seeds per proxy × target × method
× k × shots), transfer difficulty (θ1's accuracy before target tuning, A0), the
figures (target accuracy by method, accuracy against shots, forgetting against
gain, editing vs preserving against difficulty, head-score heatmaps with the
circuit outlined, proxy-vs-target circuit overlap), every cell, and the
provenance (spec, versions, git commit, host, sessions).

Every figure is built by :mod:`circuitlab.plots` or here from the same tables,
and also written to ``figures/<name>.json`` (``plotly.io.read_json`` reloads it).
A figure that cannot be drawn from what the run holds (e.g. one target only for a
correlation) is replaced by a one-line note, never by a failed report.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from circuitlab.experiments.cells import METHODS, Plan, plan
from circuitlab.experiments.runfolder import RunFolder, atomic_write_text, now

HEADLINE_METRICS = ["target_acc", "target_f1", "target_acc_before", "proxy_acc_before", "proxy_acc_after",
                    "forgetting", "param_fraction"]
GROUP = ["proxy", "target", "method", "k", "shots"]


@dataclass
class Figure:
    """One figure of the report (``fig`` is ``None`` when it could not be drawn; ``note`` says why)."""

    name: str
    title: str
    caption: str
    fig: go.Figure | None = None
    note: str = ""


# -- tables ---------------------------------------------------------------------------------------


def _method_order(df: pd.DataFrame, methods: list[str] | None) -> list[str]:
    present = list(dict.fromkeys(df["method"].astype(str)))
    order = [m for m in (methods or []) if m in present]
    return order + [m for m in present if m not in order]


def headline_table(results: pd.DataFrame, methods: list[str] | None = None) -> pd.DataFrame:
    """Mean and std over seeds of the headline metrics per (proxy, target, method, k, shots), plus ``n`` seeds.

    ``branch`` (what ``ctsft-auto`` chose) is summarised as ``circuit:2 nearzero:1``;
    ``lr`` as the values used. Methods follow ``methods`` (the spec's order).
    """
    if results.empty:
        return pd.DataFrame(columns=GROUP + ["n"])
    df = results.copy()
    df["k"] = [("-" if pd.isna(k) else f"{float(k):g}") for k in df["k"]]
    metrics = [m for m in HEADLINE_METRICS if m in df.columns and df[m].notna().any()]
    for m in metrics:
        df[m] = pd.to_numeric(df[m], errors="coerce")
    g = df.groupby(GROUP, sort=False, dropna=False)
    out = g.size().rename("n").to_frame()
    for m in metrics:
        out[f"{m}_mean"] = g[m].mean()
        out[f"{m}_std"] = g[m].std(ddof=1)
    if "branch" in df.columns:  # only informative where the method chooses its branch (ctsft-auto)
        auto = df["branch"].where(df["method"] == "ctsft-auto")
        out["branch"] = auto.groupby([df[c] for c in GROUP], sort=False, dropna=False).agg(
            lambda s: " ".join(f"{k}:{v}" for k, v in s.dropna().astype(str).value_counts().sort_index().items()))
    if "lr" in df.columns:
        out["lr"] = g["lr"].agg(lambda s: " ".join(sorted({f"{x:g}" for x in s.dropna()})))
    out = out.reset_index()
    order = {m: i for i, m in enumerate(_method_order(df, methods))}
    out["_m"] = out["method"].map(order)
    out = out.sort_values(["proxy", "target", "shots", "_m", "k"], key=lambda s: s.astype(str) if s.name == "k"
                          else s).drop(columns="_m")
    return out.reset_index(drop=True)


def format_headline(table: pd.DataFrame, digits: int = 3) -> list[dict[str, str]]:
    """Headline rows as strings (``0.547 ± 0.012``), for text and HTML tables."""
    rows = []
    for r in table.to_dict("records"):
        row = {c: str(r[c]) for c in GROUP}
        row["seeds"] = str(r["n"])
        for m in HEADLINE_METRICS:
            if f"{m}_mean" not in r:
                continue
            mu, sd = r[f"{m}_mean"], r[f"{m}_std"]
            if m == "param_fraction":
                row["params %"] = "" if pd.isna(mu) else f"{100 * mu:.3g}"
                continue
            if pd.isna(mu):
                row[m] = ""
            else:
                row[m] = f"{mu:.{digits}f}" + ("" if pd.isna(sd) else f" ± {sd:.{digits}f}")
        for c in ("branch", "lr"):
            if c in r:
                row[c] = "" if pd.isna(r[c]) else str(r[c])
        rows.append(row)
    return rows


def difficulty_table(run: RunFolder, p: Plan) -> pd.DataFrame:
    """Per (start model, language): accuracy before target tuning, from the baseline stages.

    Columns ``proxy, target, a0, proxy_acc, gap`` for θ1 (``a0`` = A0, the paper's
    transfer difficulty) and the same for the base model when ``direct`` is in the grid.
    """
    acc: dict[tuple[str | None, str], float] = {}
    for s in p.stages.values():
        if s.kind == "baseline" and run.has_stage(s.id):
            acc[(s.proxy, s.language or "")] = run.read_stage(s.id)["summary"].get("accuracy", math.nan)
    rows = []
    for proxy in p_proxies(p):
        for start in (proxy, None):
            for target in p_targets(p):
                if (start, target) not in acc:
                    continue
                a0, pa = acc[(start, target)], acc.get((start, proxy), math.nan)
                rows.append({"model": "θ1 (proxy checkpoint)" if start else "base model", "proxy": proxy,
                             "target": target, "a0": a0, "proxy_acc": pa, "gap": pa - a0})
    return pd.DataFrame(rows, columns=["model", "proxy", "target", "a0", "proxy_acc", "gap"])


def p_proxies(p: Plan) -> list[str]:
    return list(dict.fromkeys(c.proxy for c in p.cells))


def p_targets(p: Plan) -> list[str]:
    return list(dict.fromkeys(c.target for c in p.cells))


def score_tables(run: RunFolder, p: Plan) -> dict[tuple[str, str], pd.DataFrame]:
    """``{(proxy, language): head-score table}`` of every committed discovery stage."""
    out = {}
    for s in p.stages.values():
        if s.kind != "scores" or not run.has_stage(s.id):
            continue
        rel = run.read_stage(s.id)["summary"].get("scores")
        path = run.stage_path(s.id) / rel if rel else None
        if path is not None and path.exists():
            out[(s.proxy or "", s.language or s.proxy or "")] = (pd.read_parquet(path) if path.suffix == ".parquet"
                                                                 else pd.read_csv(path))
    return out


# -- figures --------------------------------------------------------------------------------------


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


# -- HTML -----------------------------------------------------------------------------------------

CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:0 auto;max-width:1180px;padding:0 24px 48px;color:#222}
h1{margin-bottom:4px} h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:14px;line-height:1.6}
.badge{display:inline-block;padding:3px 10px;border-radius:4px;font-weight:bold;font-size:13px;margin-right:8px}
.demo{background:#fff3cd;color:#7a5b00;border:1px solid #e6c200}
.paper{background:#d9f2e6;color:#0b6b3a;border:1px solid #5cb88a}
.custom{background:#e8eef8;color:#234;border:1px solid #9ab}
.warn{background:#fdecea;color:#8a1c12;border:1px solid #e3a39b;padding:8px 12px;border-radius:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{padding:4px 8px;border-bottom:1px solid #eee;
text-align:right;white-space:nowrap} th{background:#f6f6f6;position:sticky;top:0} td.l,th.l{text-align:left}
.scroll{max-height:520px;overflow:auto;border:1px solid #eee}
figure{margin:24px 0} figcaption{color:#555;font-size:13px;margin-top:4px;max-width:900px}
.note{color:#8a6d3b;font-style:italic} pre{background:#f7f7f7;padding:10px;overflow:auto;font-size:12px}
details{margin:10px 0}
"""


def _table_html(rows: list[dict[str, Any]], left: tuple[str, ...] = ("proxy", "target", "method", "model")) -> str:
    if not rows:
        return "<p class='note'>No rows yet.</p>"
    cols = list(dict.fromkeys(c for r in rows for c in r))
    head = "".join(f"<th class='{'l' if c in left else ''}'>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td class='{'l' if c in left else ''}'>{html.escape(str(r.get(c, '')))}</td>" for c in cols)
        + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt_cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _figure_html(f: Figure, index: int) -> str:
    title = f"<h3>{html.escape(f.title)}</h3>"
    cap = f"<figcaption>{html.escape(f.caption)}</figcaption>" if f.caption else ""
    if f.fig is None:
        return f"<figure>{title}<p class='note'>{html.escape(f.note)}</p>{cap}</figure>"
    div = pio.to_html(f.fig, include_plotlyjs=False, full_html=False, div_id=f"fig-{index}-{f.name}",
                      config={"displaylogo": False, "responsive": True})
    return f"<figure class='plot' data-name='{html.escape(f.name)}'>{title}{div}{cap}</figure>"


def _budget_badge(budget: str) -> str:
    label = {"demo": "DEMO BUDGET: reduced data and epochs, not the paper's settings",
             "paper": "PAPER BUDGET: the paper's settings"}.get(budget, f"budget: {budget}")
    cls = budget if budget in ("demo", "paper") else "custom"
    return f"<span class='badge {cls}'>{html.escape(label)}</span>"


def render_report(run: RunFolder, results: pd.DataFrame | None = None) -> tuple[str, list[Figure]]:
    """The report's HTML text and its figures (nothing is written)."""
    from plotly.offline import get_plotlyjs

    manifest = run.read_manifest()
    spec = run.spec()
    p = plan(spec)
    if results is None:
        results = run.results([c.id for c in p.cells])
    methods = list(spec.grid.methods)
    k_list = list(spec.grid.k) if any(METHODS[m].uses_k for m in methods) else []
    figs = build_figures(run, results, p, methods, k_list)
    n_done, n_total = len(results), len(p.cells)
    sessions = manifest.get("sessions", [])
    git = manifest.get("git") or {}
    host = manifest.get("host") or {}
    parts: list[str] = []
    parts.append(f"<h1>{html.escape(spec.name)}</h1>")
    parts.append(f"<p>{_budget_badge(spec.budget)}</p>")
    if spec.description:
        parts.append(f"<p>{html.escape(spec.description)}</p>")
    d = spec.data
    info = [
        f"<b>model</b> {html.escape(spec.model.name)} · <b>dataset</b> {d.dataset} · <b>proxy</b> "
        f"{', '.join(d.proxy)} · <b>targets</b> {', '.join(d.targets)}",
        f"<b>methods</b> {', '.join(methods)} · <b>k</b> {', '.join(f'{k:g}' for k in spec.grid.k)} · "
        f"<b>shots</b> {', '.join(map(str, spec.grid.shots))} · <b>seeds</b> {', '.join(map(str, spec.grid.seeds))}",
        f"<b>proxy tuning</b> n_src={spec.proxy_tuning.n_src}, {spec.proxy_tuning.epochs} epochs, "
        f"lr {spec.proxy_tuning.lr:g} · <b>target tuning</b> {spec.tuning.epochs} epochs, lr "
        f"{', '.join(f'{x:g}' for x in spec.tuning.lr_grid) or f'{spec.tuning.lr:g}'} · <b>discovery</b> "
        f"{spec.discovery.scorer}, {spec.discovery.n_examples} examples · <b>test</b> "
        f"{spec.evaluation.n_test or 'all'} per language",
        f"<b>cells</b> {n_done}/{n_total} done · <b>backend</b> {html.escape(spec.backend)} · <b>created</b> "
        f"{manifest.get('created')} · <b>finished</b> {manifest.get('finished') or '—'} · <b>git</b> "
        f"{(git.get('commit') or 'n/a')[:10]}{' (dirty)' if git.get('dirty') else ''} · <b>host</b> "
        f"{html.escape(str(host.get('hostname', '')))} ({host.get('cpu_count', '?')} CPUs)",
    ]
    parts.append("<div class='meta'>" + "<br>".join(info) + "</div>")
    stray = len(set(run.read_cells()) - {c.id for c in p.cells})
    if stray:
        parts.append(f"<p class='meta'>{stray} committed cell(s) in cells/ belong to no cell of this spec (made "
                     "before a --force change of spec, or by another circuitlab version); they are not shown.</p>")
    if n_done < n_total:
        parts.append(f"<p class='warn'>Partial run: {n_total - n_done} of {n_total} cells are not finished. Run the "
                     "same sweep command again to complete it, then `circuitlab report` to refresh this page.</p>")
    failed_stages = {}
    for e in run.events():
        if e.get("event") == "stage_failed" and e.get("stage") in p.stages and not run.has_stage(e["stage"]):
            failed_stages[e["stage"]] = e.get("error", "")
    if failed_stages:
        items = "".join(f"<li><b>{html.escape(sid)}</b>: {html.escape(err[:400])}</li>"
                        for sid, err in failed_stages.items())
        parts.append(f"<div class='warn'>Shared stages that failed (their figures are missing; details in "
                     f"sweep.log):<ul>{items}</ul></div>")
    if spec.backend == "fake":
        parts.append("<p class='warn'>These numbers come from the <b>fake</b> test backend, not from any model.</p>")
    parts.append("<h2>Headline results</h2>")
    parts.append("<p class='meta'>Mean ± std over seeds, on the test split. target_acc_before is A0 (the starting "
                 "model's target accuracy before target tuning); forgetting = proxy_acc_before − proxy_acc_after; "
                 "params % = share of the model's parameters updated.</p>")
    parts.append(_table_html(format_headline(headline_table(results, methods))))
    diff = difficulty_table(run, p)
    if not diff.empty:
        parts.append("<h2>Transfer difficulty</h2>")
        parts.append("<p class='meta'>Accuracy before any target tuning: a0 on the target (A0, lower = harder), "
                     "proxy_acc on the proxy, gap = proxy_acc − a0.</p>")
        parts.append(_table_html([{k: _fmt_cell(v) for k, v in r.items()} for r in diff.to_dict("records")]))
    parts.append("<h2>Figures</h2>")
    parts.extend(_figure_html(f, i) for i, f in enumerate(figs))
    parts.append("<h2>Every cell</h2>")
    cols = [c for c in results.columns if results[c].notna().any()] if not results.empty else []
    rows = [{c: _fmt_cell(r[c]) for c in cols} for r in results.to_dict("records")]
    parts.append(f"<details><summary>{len(rows)} rows (also in results.csv / results.parquet)</summary>"
                 f"<div class='scroll'>{_table_html(rows)}</div></details>")
    parts.append("<h2>Provenance</h2>")
    sess_rows = [{"#": i, "started": s.get("started"), "finished": s.get("finished"), "status": s.get("status"),
                  "executor": s.get("executor"), "cells run": s.get("cells_run"), "failed": s.get("cells_failed"),
                  "host": (s.get("host") or {}).get("hostname", "")} for i, s in enumerate(sessions)]
    parts.append(_table_html(sess_rows))
    versions = manifest.get("versions") or {}
    parts.append("<details><summary>Package versions</summary>" + _table_html(
        [{"package": k, "version": v or "not installed"} for k, v in versions.items()], left=("package",))
        + "</details>")
    spec_toml = (run.path / "spec.toml").read_text() if (run.path / "spec.toml").exists() else ""
    parts.append(f"<details><summary>Resolved spec (spec.toml, fingerprint {manifest.get('fingerprint', '')[:16]})"
                 f"</summary><pre>{html.escape(spec_toml)}</pre></details>")
    parts.append(f"<details><summary>Host</summary><pre>{html.escape(json.dumps(host, indent=2))}</pre></details>")
    parts.append(f"<p class='meta'>Generated {now()} by circuitlab from {html.escape(str(run.path))}.</p>")
    title = html.escape(f"{spec.name} · circuitlab report")
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title}</title>"
        f"<style>{CSS}</style>\n<script type='text/javascript'>{get_plotlyjs()}</script>\n</head><body>\n"
        + "\n".join(parts) + "\n</body></html>\n"
    )
    return page, figs


def write_report(run: RunFolder | str | Path, results: pd.DataFrame | None = None, progress: bool = False) -> Path:
    """Write ``RUN/report.html`` (self-contained) and ``RUN/figures/*.json``; return the report's path."""
    run = run if isinstance(run, RunFolder) else RunFolder(run)
    page, figs = render_report(run, results)
    run.figures_dir.mkdir(exist_ok=True)
    for f in figs:
        if f.fig is not None:
            atomic_write_text(run.figures_dir / f"{f.name}.json", pio.to_json(f.fig))
    return atomic_write_text(run.report_path, page)


__all__ = ["Figure", "build_figures", "difficulty_table", "format_headline", "headline_table", "render_report",
           "write_report"]
