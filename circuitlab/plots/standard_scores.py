"""The standard figures from head-score tables: heatmaps, language overlaps and differences, model alignment.

Score tables are grouped by ``model, method, language`` (those present); a group
holding several rows per head (several seeds, say) is averaged over them, and the
figure's note says so.
"""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

import pandas as pd

from circuitlab.analysis._tables import HEAD_KEY, head_scores, require_columns
from circuitlab.analysis.align import compare_models
from circuitlab.analysis.languages import compare_languages
from circuitlab.analysis.overlap import top_k_heads
from circuitlab.plots.comparisons import model_alignment_plot, overlap_curves_plot, overlap_matrix_plot
from circuitlab.plots.figure_set import StandardFigures, slug
from circuitlab.plots.heatmaps import difference_heatmap, head_heatmap

GROUP_KEYS = ("model", "method", "language")


def _short(model: str) -> str:
    """A model in a figure's file name: a folder by its own name (machine paths stay out of file names)."""
    return Path(model).name if model.startswith("/") else model


def _label(model: str) -> str:
    """How a model is named in a figure title: a folder by its own name (less a trailing hash), else as is."""
    return re.sub(r"-[0-9a-f]{12,}$", "", _short(model))


def _group_tables(scores: pd.DataFrame) -> tuple[dict[tuple[str, ...], pd.DataFrame], list[str], dict]:
    """One table per (model, method, language) present, averaged over any other repetition."""
    require_columns(scores, [*HEAD_KEY, "score"], "head-score table")
    keys = [k for k in GROUP_KEYS if k in scores.columns]
    df = scores.copy()
    for k in GROUP_KEYS:
        if k not in df.columns:
            df[k] = {"model": "model", "method": "scores", "language": "all"}[k]
    from circuitlab.models.registry import model_id

    df["model"] = df["model"].map(model_id)  # a folder however spelled is one model (relative: against the cwd)
    groups, averaged = {}, {}
    for key, g in df.groupby(list(GROUP_KEYS), sort=False):
        key = tuple(str(x) for x in key)
        if g.duplicated(HEAD_KEY).any():
            reps = int(g.groupby(HEAD_KEY).size().max())
            extra = [c for c in ("seed", "depth", "n_examples") if c in g.columns and g[c].nunique() > 1]
            g = g.groupby(HEAD_KEY, as_index=False)["score"].mean().assign(model=key[0], method=key[1], language=key[2])
            averaged[key] = {"rows_per_head": reps, "varying": extra}
        groups[key] = g.reset_index(drop=True)
    return groups, keys, averaged


def _score_figures(out: StandardFigures, scores: pd.DataFrame, k: int, reference: str | None, n_perm: int,
                   seed: int, n_bins: int | None, k_bins: int) -> None:
    groups, _, averaged = _group_tables(scores)
    for (model, method, language), table in groups.items():
        kk = min(k, len(table))
        name = slug("heatmap", _short(model), method, language)
        limit = _outlier_limit(table["score"])
        clip = limit is not None
        out.add(name, head_heatmap(table, selected=top_k_heads(table, kk),
                                   title=f"{method} · {_label(model)} · {language}", zlimit=limit),
                kind="heatmap", model=model, method=method, language=language, k=kk,
                averaged=averaged.get((model, method, language)), colour_range_clipped=clip,
                n_nan=int(table["score"].isna().sum()),
                top=[[h.layer, h.head] for h in top_k_heads(table, kk)])
    by_mm: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}
    for (model, method, language), table in groups.items():
        by_mm.setdefault((model, method), {})[language] = table
    for (model, method), tables in by_mm.items():
        if len(tables) < 2:
            out.skipped[slug("overlap_matrix", _short(model), method)] = f"one language only ({list(tables)})"
            continue
        ref = reference if reference in tables else next(iter(tables))
        tables = {ref: tables[ref], **{lang: t for lang, t in tables.items() if lang != ref}}  # reference first
        try:
            cmp = compare_languages(tables, k=min(k, *(len(t) for t in tables.values())), reference=ref,
                                    n_perm=n_perm, seed=seed)
        except ValueError as exc:
            out.skipped[slug("overlap_matrix", _short(model), method)] = str(exc)
            continue
        note = dict(model=model, method=method, languages=cmp.languages, k=cmp.k, n_perm=n_perm, seed=seed,
                    pairs=cmp.pairs.to_dict(orient="records"))
        out.add(slug("overlap_matrix", _short(model), method),
                overlap_matrix_plot(cmp.jaccard,
                                    title=f"Top-{cmp.k} Jaccard across languages · {method} · {_label(model)}"),
                kind="overlap_matrix", **note)
        out.add(slug("spearman_matrix", _short(model), method),
                overlap_matrix_plot(cmp.spearman, title=f"Spearman ρ across languages · {method} · {_label(model)}"),
                kind="spearman_matrix", **note)
        out.add(slug("overlap_curves", _short(model), method),
                overlap_curves_plot(cmp.curves,
                                    title=f"Top-k overlap with {ref} vs chance · {method} · {_label(model)}"),
                kind="overlap_curves", model=model, method=method, reference=ref, n_perm=n_perm, seed=seed)
        for language, table in tables.items():
            if language == ref:
                continue
            out.add(slug("difference", _short(model), method, f"{ref}_vs_{language}"),
                    difference_heatmap(tables[ref], table, labels=(ref, language),
                                       title=f"{ref} − {language} · {method} · {_label(model)}",
                                       zlimit=_outlier_limit(head_scores(tables[ref]).sub(head_scores(table)))),
                    kind="difference", model=model, method=method, languages=[ref, language])
    by_ml: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}
    for (model, method, language), table in groups.items():
        by_ml.setdefault((method, language), {})[model] = table
    for (method, language), tables in by_ml.items():
        for (ma, ta), (mb, tb) in combinations(tables.items(), 2):
            ga, gb = _grid_geometry(ma, ta), _grid_geometry(mb, tb)
            bins = n_bins or min(ga.n_layers, gb.n_layers)
            try:
                cmp = compare_models(ta, ga, tb, gb, n_bins=bins, k=min(k_bins, bins))
            except ValueError as exc:
                out.skipped[slug("models", method, language, f"{_short(ma)}_vs_{_short(mb)}")] = str(exc)
                continue
            out.add(slug("models", method, language, f"{_short(ma)}_vs_{_short(mb)}"),
                    model_alignment_plot(
                        cmp, title=f"{_label(ma)} vs {_label(mb)} by relative depth · {method} · {language}"),
                    kind="models", method=method, language=language, models=[ma, mb], spearman=cmp.spearman,
                    jaccard=cmp.jaccard, alignment=cmp.alignment)


def _outlier_limit(scores: pd.Series, ratio: float = 10.0) -> float | None:
    """When some |score| exceeds ``ratio`` × the 90th percentile of |score|: the largest |score| that does not
    (the colour limit of the heatmap); else ``None`` (no clipping)."""
    a = scores.abs().dropna()
    if len(a) < 10:
        return None
    q = float(a.quantile(0.9))
    if q <= 0 or float(a.max()) <= ratio * q:
        return None
    return float(a[a <= ratio * q].max())


def _grid_geometry(name: str, table: pd.DataFrame):
    from circuitlab.models.geometry import ModelGeometry

    n_layers, n_heads = int(table["layer"].max()) + 1, int(table["head"].max()) + 1
    return ModelGeometry(name, "table", n_layers, n_heads, n_heads, 1, n_heads, "rmsnorm", 0)
