"""One self-contained, offline ``report.html`` per run folder.

Context
-------
A run is shared by sending one file. The report embeds plotly.js exactly once,
inline (no CDN, no network), followed by every figure as a ``<div>`` plus a small
JSON payload, and the tables as plain HTML. It is rebuilt from the run folder
alone (``cells/``, ``stages/``, ``manifest.json``), so ``circuitlab report RUN``
works on a partial run, after a resume, or on another machine.

Sections: paired differences between methods and forgetting per method, with
bootstrap intervals (:mod:`~circuitlab.experiments.report_paired`; they lead, as
the question a run answers is usually "is method a better than b?"), the headline table (mean ± std over seeds per proxy × target × method
× k × shots), transfer difficulty (θ1's accuracy before target tuning, A0), the
figures (target accuracy by method, accuracy against shots, forgetting against
gain, editing vs preserving against difficulty, head-score heatmaps with the
circuit outlined, proxy-vs-target circuit overlap), every cell, and the
provenance (spec, versions, git commit, host, sessions).

Every figure is built by :mod:`circuitlab.plots` or here from the same tables,
and also written to ``figures/<name>.json`` (``plotly.io.read_json`` reloads it).
A figure that cannot be drawn from what the run holds (e.g. one target only for a
correlation) is replaced by a one-line note, never by a failed report.

Parts: :mod:`~circuitlab.experiments.report_tables` (tables from the run folder),
:mod:`~circuitlab.experiments.report_figures` (figures) and
:mod:`~circuitlab.experiments.report_html` (HTML pieces); this module assembles the
page and keeps the old import path.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import plotly.io as pio

from circuitlab.experiments.cells import METHODS, plan
from circuitlab.experiments.report_figures import Figure, build_figures
from circuitlab.experiments.report_html import CSS, _budget_badge, _fake_banner, _figure_html, _fmt_cell, _table_html
from circuitlab.experiments.report_tables import (  # noqa: F401  (old import path)
    GROUP,
    HEADLINE_METRICS,
    difficulty_table,
    format_headline,
    headline_table,
    p_proxies,
    p_targets,
    score_tables,
)
from circuitlab.experiments.report_paired import paired_markdown, paired_section
from circuitlab.experiments.runfolder import RunFolder, atomic_write_table, atomic_write_text, now
from circuitlab.synthetic import FAKE_BACKEND, FAKE_LABEL, label_fake, n_fake_rows


def render_report(run: RunFolder, results: pd.DataFrame | None = None,
                  paired: tuple | None = None) -> tuple[str, list[Figure]]:
    """The report's HTML text and its figures (nothing is written); ``paired``: :func:`paired_section`'s
    result when the caller already computed it."""
    from plotly.offline import get_plotlyjs

    manifest = run.read_manifest()
    spec = run.spec()
    p = plan(spec)
    if results is None:
        results = run.results([c.id for c in p.cells])
    paired_parts, paired_figs, _, _ = paired if paired is not None else paired_section(run, results)
    methods = list(spec.grid.methods)
    k_list = list(spec.grid.k) if any(METHODS[m].uses_k for m in methods) else []
    figs = build_figures(run, results, p, methods, k_list)
    n_fake = n_fake_rows(results)
    fake = n_fake > 0 or spec.backend == FAKE_BACKEND
    if fake:  # the figures are also saved on their own (figures/*.json): each says so too
        for f in figs:
            if f.fig is not None:
                label_fake(f.fig)
    n_done, n_total = len(results), len(p.cells)
    sessions = manifest.get("sessions", [])
    git = manifest.get("git") or {}
    host = manifest.get("host") or {}
    parts: list[str] = [_fake_banner(n_fake, len(results), spec.backend)] if fake else []
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
    fake_badge = f" <span class='badge fakebadge'>{FAKE_LABEL}: synthetic, not measured</span>" if fake else ""
    if paired_parts:  # the lead: paired differences and forgetting with their intervals
        parts.extend(paired_parts)
        parts.extend(_figure_html(f, 100 + i) for i, f in enumerate(paired_figs))
    parts.append(f"<h2>Headline results{fake_badge}</h2>")
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
    nexts = [s.get("started") for s in sessions[1:]] + [None]
    sessions = [s if s.get("finished") else {**s, "finished": run.last_event_time(s.get("started"), nxt),
                                               "status": f"{s.get('status')} (until its last event)"}
                for s, nxt in zip(sessions, nexts)]
    sess_rows = [{"#": i, "started": s.get("started"), "finished": s.get("finished"), "wall": _wall(s),
                  "status": s.get("status"), "executor": s.get("executor"), "cells run": s.get("cells_run"),
                  "failed": s.get("cells_failed"), "host": (s.get("host") or {}).get("hostname", ""),
                  "command": _command(s.get("argv"))} for i, s in enumerate(sessions)]
    total = sum(_seconds(s) for s in sessions)
    parts.append(f"<p class='meta'>{len(sessions)} session(s), {_hms(total)} of wall time in all.</p>")
    parts.append(_table_html(sess_rows, left=("command",)))
    versions = manifest.get("versions") or {}
    parts.append("<details><summary>Package versions</summary>" + _table_html(
        [{"package": k, "version": v or "not installed"} for k, v in versions.items()], left=("package",))
        + "</details>")
    spec_toml = (run.path / "spec.toml").read_text() if (run.path / "spec.toml").exists() else ""
    parts.append(f"<details><summary>Resolved spec (spec.toml, fingerprint {manifest.get('fingerprint', '')[:16]})"
                 f"</summary><pre>{html.escape(spec_toml)}</pre></details>")
    parts.append(f"<details><summary>Host</summary><pre>{html.escape(json.dumps(host, indent=2))}</pre></details>")
    parts.append(f"<p class='meta'>Generated {now()} by circuitlab from {html.escape(str(run.path))}.</p>")
    title = html.escape(f"{FAKE_LABEL + ' · ' if fake else ''}{spec.name} · circuitlab report")
    page = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title}</title>"
        f"<style>{CSS}</style>\n<script type='text/javascript'>{get_plotlyjs()}</script>\n</head><body>\n"
        + "\n".join(parts) + "\n</body></html>\n"
    )
    return page, paired_figs + figs


def _seconds(session: dict) -> float:
    from datetime import datetime

    try:
        return (datetime.fromisoformat(session["finished"]) - datetime.fromisoformat(session["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return 0.0


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _wall(session: dict) -> str:
    return _hms(_seconds(session)) if session.get("finished") else "—"


def _command(argv: list[str] | None) -> str:
    """The command as typed: the program's name without its folder, then the arguments."""
    if not argv:
        return ""
    return " ".join([Path(argv[0]).name, *argv[1:]])


def write_report(run: RunFolder | str | Path, results: pd.DataFrame | None = None, progress: bool = False) -> Path:
    """Write ``RUN/report.html`` (self-contained) and ``RUN/figures/*.json``; return the report's path."""
    run = run if isinstance(run, RunFolder) else RunFolder(run)
    if results is None:
        results = run.results([c.id for c in plan(run.spec()).cells])
    try:
        paired = paired_section(run, results)
    except Exception as exc:  # noqa: BLE001 - the lead section must never cost the whole report
        note = f"<p class='warn'>Paired differences not computed: {html.escape(str(exc))}</p>"
        paired = ([note], [], pd.DataFrame(), pd.DataFrame())
    page, figs = render_report(run, results, paired=paired)
    for name, table in (("paired_differences", paired[2]), ("forgetting_by_method", paired[3])):
        if not table.empty:  # the report's lead tables, also as files
            atomic_write_table(table, run.path / f"{name}.csv")
    if not (paired[2].empty and paired[3].empty):  # the same, as Markdown for a README or a draft
        atomic_write_text(run.path / "paired_differences.md", paired_markdown(paired[2], paired[3]))
    run.figures_dir.mkdir(exist_ok=True)
    for f in figs:
        if f.fig is not None:
            atomic_write_text(run.figures_dir / f"{f.name}.json", pio.to_json(f.fig))
    return atomic_write_text(run.report_path, page)


__all__ = ["Figure", "build_figures", "difficulty_table", "format_headline", "headline_table", "render_report",
           "write_report"]
