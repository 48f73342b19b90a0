"""The report's lead section: paired method differences and forgetting, with bootstrap intervals.

The results table holds accuracies; the per-example correctness that the paired
bootstrap redraws lives in each cell's record (``meta.correct``) and, for the
"before" of forgetting, in the proxy baseline stage. :func:`with_correctness`
joins them onto the table; :func:`paired_section` renders the tables, the
forest figures and one sentence per comparison that states the answer, whichever
way it falls (see :mod:`circuitlab.analysis.paired` for the statistics).
"""

from __future__ import annotations

import html

import pandas as pd

from circuitlab.analysis.paired import DEFAULT_COMPARISONS, forgetting_by_method, paired_differences
from circuitlab.experiments.report_figures import Figure
from circuitlab.experiments.report_html import _fmt_cell, _table_html
from circuitlab.experiments.runfolder import RunFolder

#: The comparisons the issue asks the report to lead with.
LEAD = (("circuit", "random"), ("circuit", "full"), ("ctsft-auto", "full"))


def with_correctness(run: RunFolder, results: pd.DataFrame) -> pd.DataFrame:
    """``results`` plus ``target_correct``, ``proxy_correct`` and ``proxy_correct_before`` bit strings (``None``
    where a cell predates them). A derived cell (ctsft-auto) takes the bits of the branch it chose."""
    records = run.read_cells()
    stage_bits: dict[str, str | None] = {}

    def before(sid: str | None) -> str | None:
        if sid and sid not in stage_bits:
            rec = run.stage_record(sid)
            stage_bits[sid] = ((rec or {}).get("summary") or {}).get("correct")
        return stage_bits.get(sid) if sid else None

    def source(rec: dict) -> dict:
        meta = rec.get("meta") or {}
        if "derived_from" in meta:
            branch = meta.get("branch") or rec["row"].get("branch")
            src = records.get((meta["derived_from"].get(branch) or {}).get("cell_id", ""))
            return src or rec
        return rec

    out = results.copy()
    t, p, b = [], [], []
    for cid in out["cell_id"]:
        rec = source(records.get(cid) or {})
        bits = (rec.get("meta") or {}).get("correct") or {}
        t.append(bits.get("target"))
        p.append(bits.get("proxy"))
        b.append(before((rec.get("stages") or {}).get("before_proxy")))
    out["target_correct"], out["proxy_correct"], out["proxy_correct_before"] = t, p, b
    return out


def _fmt(x: float) -> str:
    return f"{x:+.4f}" if isinstance(x, float) else str(x)


def _sentence(row: pd.Series, ci: float) -> str:
    a, b = row["a"], row["b"]
    where = f"pooled over k, {row['n_blocks']} target × seed blocks" if row["k"] == "pooled" else \
        f"{row['n_blocks']} blocks"
    span = f"Δ = {_fmt(row['delta'])} [{_fmt(row['ci_lo'])}, {_fmt(row['ci_hi'])}] ({ci:.0%} CI, {where})"
    if row["verdict"] == f"{a} better":
        return f"{a} beats {b}: {span}; the interval excludes 0."
    if row["verdict"] == f"{b} better":
        return f"{b} beats {a}: {span}; the interval excludes 0."
    return f"{a} and {b} are not separable: {span}; the interval includes 0."


def paired_tables(run: RunFolder, results: pd.DataFrame, *, n_boot: int = 4000, ci: float = 0.95,
                  seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(paired differences, forgetting by method) of the run's finished cells."""
    df = with_correctness(run, results)
    return (paired_differences(df, DEFAULT_COMPARISONS, n_boot=n_boot, ci=ci, seed=seed),
            forgetting_by_method(df, n_boot=n_boot, ci=ci, seed=seed))


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("-", "−")


def paired_markdown(diffs: pd.DataFrame, forget: pd.DataFrame | None = None,
                    comparisons: tuple[tuple[str, str], ...] = LEAD) -> str:
    """The lead comparisons (and forgetting) as Markdown tables, one column per k and pooled:
    ``Δ [lo, hi]``, bold where the interval excludes 0. For a README or a paper draft."""

    def column(k: object) -> str:  # a method without a head budget (k "—") goes with the pooled rows
        try:
            return f"k = {float(k):g}"  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return "pooled"

    def table(rows: pd.DataFrame, key: str, names: list[str], head: str) -> list[str]:
        rows = rows.assign(column=[column(k) for k in rows["k"]])
        cols = sorted(set(rows["column"]) - {"pooled"}, key=lambda c: float(c[4:])) + ["pooled"]
        out = [f"| {head} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name in names:
            cells = []
            for k in cols:
                hit = rows[(rows[key] == name) & (rows["column"] == k)]
                if hit.empty:
                    cells.append("")
                    continue
                r = hit.iloc[0]
                text = f"{_signed(r['delta'])} [{_signed(r['ci_lo'])}, {_signed(r['ci_hi'])}]"
                cells.append(f"**{text}**" if r["ci_lo"] > 0 or r["ci_hi"] < 0 else text)
            out.append(f"| {name} | " + " | ".join(cells) + " |")
        return out

    lines: list[str] = []
    if diffs is not None and not diffs.empty:
        names = [f"{a} − {b}" for a, b in comparisons if f"{a} − {b}" in set(diffs["comparison"])]
        lines += table(diffs, "comparison", names, "paired difference in target accuracy")
    if forget is not None and not forget.empty:
        lines += [""] if lines else []
        lines += table(forget, "method", list(dict.fromkeys(forget["method"])), "forgetting (proxy before − after)")
    return "\n".join(lines) + ("\n" if lines else "")


def _rows(table: pd.DataFrame, first: list[str]) -> list[dict[str, str]]:
    cols = first + ["k", "delta", "ci_lo", "ci_hi", "p_boot", "n_blocks", "n_units", "n_examples", "levels"] + \
        (["verdict"] if "verdict" in table.columns else [])
    return [{c: _fmt_cell(r[c]) for c in cols} for r in table.to_dict("records")]


def paired_section(run: RunFolder, results: pd.DataFrame, *, n_boot: int = 4000,
                   ci: float = 0.95) -> tuple[list[str], list[Figure], pd.DataFrame, pd.DataFrame]:
    """HTML parts, figures and the two tables of the lead section (empty parts when nothing pairs yet)."""
    from circuitlab.plots.paired import paired_forest

    if results.empty:
        return [], [], pd.DataFrame(), pd.DataFrame()
    diffs, forget = paired_tables(run, results, n_boot=n_boot, ci=ci)
    if diffs.empty and forget.empty:
        return [], [], diffs, forget
    parts = ["<h2>Paired differences</h2>",
             "<p class='meta'>Each difference is paired: the two methods' cells share the target sample, the seed "
             "and the test sentences (a method without a head budget is paired with every k). Δ is the mean over "
             "target × seed blocks of the mean per-example difference in target-test correctness. The interval is "
             f"a {ci:.0%} percentile bootstrap ({n_boot} replicates) that redraws the blocks and, per language, the "
             "test examples (one draw for both methods); p_boot is its two-sided bootstrap p-value. Intervals are "
             "per row, not adjusted for the number of rows.</p>"]
    figs: list[Figure] = []
    if not diffs.empty:
        lead = diffs[[(a, b) in LEAD for a, b in zip(diffs["a"], diffs["b"])]]
        pooled = lead[lead["k"] == "pooled"]
        if not pooled.empty:
            parts.append("<ul>" + "".join(f"<li>{html.escape(_sentence(r, ci))}</li>"
                                          for _, r in pooled.iterrows()) + "</ul>")
        parts.append(_table_html(_rows(diffs, ["comparison"]), left=("comparison", "levels", "verdict")))
        try:
            figs.append(Figure("paired_differences", "Paired differences in target accuracy",
                               "Dots: Δ = a − b (mean over target × seed blocks); bars: bootstrap interval over "
                               "blocks and test examples; bold rows pool every k.",
                               paired_forest(diffs)))
        except Exception as exc:  # noqa: BLE001 - a figure must never break the report
            figs.append(Figure("paired_differences", "Paired differences in target accuracy", "", None,
                               f"not drawn: {exc}"))
    if not forget.empty:
        parts.append("<h3>Forgetting per method</h3>")
        parts.append("<p class='meta'>Forgetting = proxy test accuracy before target tuning (θ1) − after, per "
                     "cell; mean over blocks, the same two-level bootstrap over blocks and proxy test examples. "
                     "Positive = the proxy language got worse.</p>")
        parts.append(_table_html(_rows(forget, ["method"]), left=("method", "levels")))
        try:
            figs.append(Figure("forgetting_by_method", "Forgetting per method",
                               "Proxy accuracy lost (before − after) with bootstrap intervals; bold rows pool "
                               "every k.", paired_forest(forget, group="method",
                                                         x_title="forgetting (proxy accuracy before − after)")))
        except Exception as exc:  # noqa: BLE001
            figs.append(Figure("forgetting_by_method", "Forgetting per method", "", None, f"not drawn: {exc}"))
    return parts, figs, diffs, forget


__all__ = ["LEAD", "paired_markdown", "paired_section", "paired_tables", "with_correctness"]
