"""The report's tables, from the run folder: headline results, transfer difficulty, head scores.

The headline table is the mean ± std over seeds per proxy × target × method × k ×
shots; transfer difficulty is θ1's (and the base model's) accuracy before target
tuning, read from the baseline stages; score tables are the discovery stages' outputs.
"""

from __future__ import annotations

import math

import pandas as pd

from circuitlab.experiments.cells import Plan
from circuitlab.experiments.runfolder import RunFolder
from circuitlab.synthetic import fake_rows

HEADLINE_METRICS = ["target_acc", "target_f1", "target_acc_before", "proxy_acc_before", "proxy_acc_after",
                    "forgetting", "param_fraction"]
GROUP = ["proxy", "target", "method", "k", "shots"]


def _method_order(df: pd.DataFrame, methods: list[str] | None) -> list[str]:
    present = list(dict.fromkeys(df["method"].astype(str)))
    order = [m for m in (methods or []) if m in present]
    return order + [m for m in present if m not in order]


def headline_table(results: pd.DataFrame, methods: list[str] | None = None) -> pd.DataFrame:
    """Mean and std over seeds of the headline metrics per (proxy, target, method, k, shots), plus ``n`` seeds.

    ``branch`` (what ``ctsft-auto`` chose) is summarised as ``circuit:2 nearzero:1``;
    ``lr`` as the values used. Methods follow ``methods`` (the spec's order). When
    some rows come from the fake test backend, ``n_fake`` counts them per group.
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
    fake = fake_rows(df)
    if fake.any():
        out["n_fake"] = fake.groupby([df[c] for c in GROUP], sort=False, dropna=False).sum().astype(int)
    out = out.reset_index()
    order = {m: i for i, m in enumerate(_method_order(df, methods))}
    out["_m"] = out["method"].map(order)
    out = out.sort_values(["proxy", "target", "shots", "_m", "k"], key=lambda s: s.astype(str) if s.name == "k"
                          else s).drop(columns="_m")
    return out.reset_index(drop=True)


def format_headline(table: pd.DataFrame, digits: int = 3) -> list[dict[str, str]]:
    """Headline rows as strings (``0.547 ± 0.012``), for text and HTML tables.

    Where the table counts fake-backend rows, a leading ``backend`` column says ``FAKE``
    (``FAKE 1/3`` when only some of the group's seeds are).
    """
    rows = []
    for r in table.to_dict("records"):
        row = {"backend": _fake_mark(r["n_fake"], r["n"])} if "n_fake" in r else {}
        row.update({c: str(r[c]) for c in GROUP})
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


def _fake_mark(n_fake: int, n: int) -> str:
    return "" if not n_fake else "FAKE" if n_fake == n else f"FAKE {n_fake}/{n}"


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


__all__ = ["GROUP", "HEADLINE_METRICS", "difficulty_table", "format_headline", "headline_table", "score_tables"]
