"""HTML pieces of the report: the style sheet, tables, figures, the budget badge and the fake-backend banner."""

from __future__ import annotations

import html
import math
from typing import Any

import plotly.io as pio

from circuitlab.experiments.report_figures import Figure
from circuitlab.synthetic import FAKE_BACKEND, FAKE_LABEL

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
.fake-banner{background:#b00020;color:#fff;border:3px solid #5c0010;border-radius:4px;padding:14px 18px;
margin:18px 0;font-size:15px;line-height:1.5} .fake-banner b.big{display:block;font-size:22px;letter-spacing:1px}
.fakebadge{background:#b00020;color:#fff;border:1px solid #5c0010;vertical-align:middle}
tr.fake td{background:#fdecea} tr.fake td:first-child{color:#b00020;font-weight:bold}
"""


def _table_html(rows: list[dict[str, Any]], left: tuple[str, ...] = ("proxy", "target", "method", "model")) -> str:
    if not rows:
        return "<p class='note'>No rows yet.</p>"
    cols = list(dict.fromkeys(c for r in rows for c in r))
    head = "".join(f"<th class='{'l' if c in left else ''}'>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        ("<tr class='fake'>" if _is_fake(r) else "<tr>")
        + "".join(f"<td class='{'l' if c in left else ''}'>{html.escape(str(r.get(c, '')))}</td>" for c in cols)
        + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _is_fake(row: dict[str, Any]) -> bool:
    """A row of the fake backend: its ``backend`` cell says ``fake`` (every-cell table) or ``FAKE …`` (headline)."""
    return str(row.get("backend", "")).lower().startswith(FAKE_BACKEND)


def _fake_banner(n_fake: int, n_rows: int, spec_backend: str) -> str:
    """The banner atop a report whose numbers come (wholly or partly) from the fake test backend."""
    if n_fake:
        which = "Every result row" if n_fake == n_rows else f"{n_fake} of the {n_rows} result rows (marked FAKE)"
        which += " on this page comes" if n_fake == n_rows else " on this page come"
    else:
        which = "This run's spec names the fake backend: every number on this page comes"
    return (f"<div class='fake-banner' role='alert'><b class='big'>{FAKE_LABEL}: SYNTHETIC NUMBERS, NOT "
            f"MEASUREMENTS</b>{html.escape(which)} from the fake test backend (<code>backend = "
            f"\"{FAKE_BACKEND}\"</code>), which derives each number from a hash of the cell's coordinates to "
            "exercise the sweep machinery and this report. No model was trained or evaluated: do not cite, compare "
            f"or plot these numbers as results (spec backend: {html.escape(spec_backend)}).</div>")


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


__all__ = ["CSS"]
