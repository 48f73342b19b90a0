"""The standard figure set, from saved tables: what ``circuitlab plot`` draws.

Context: after discovery and tuning, a researcher holds three kinds of tables
on disk: head scores (one row per head, with ``model, method, language`` and
perhaps ``seed``), tuning results (one row per run) and transfer difficulty (one
row per target). :func:`standard_figures` turns whatever of them it is given
into every figure the package knows how to draw, and says which it skipped and
why; :func:`save_figures` writes them with an ``index.html`` and a
``figures.json`` manifest recording what each figure was made from.

Score tables are grouped by ``model, method, language`` (those present). A
group that holds several rows per head (several seeds, say) is averaged over
them, and the figure's record says so.

Figures, by name:

- ``heatmap__<model>__<method>__<language>``: layer × head scores, top-k outlined (when one head's
  |score| is over 10 times the 90th percentile, the colour range is clipped and the figure says so);
- ``overlap_matrix__<model>__<method>`` and ``spearman_matrix__…``: every language
  pair (two or more languages of one model and method);
- ``overlap_curves__<model>__<method>``: top-k Jaccard against k of every language
  with the reference language, over the chance band;
- ``difference__<model>__<method>__<ref>_vs_<language>``: score differences;
- ``models__<method>__<language>__<a>_vs_<b>``: two models aligned by relative depth;
- ``tradeoff__<measure>[__<setting>]``: Δ(editing − preserving) per target against
  each difficulty measure (results plus difficulty, or ``target_acc_before`` in the results);
- ``forgetting_vs_gain[__<setting>]`` and ``accuracy_vs_shots``: from the results;
- ``cka_by_layer``: representation similarity of each target to the proxy, per layer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from itertools import combinations
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from circuitlab.analysis._tables import HEAD_KEY, head_scores, require_columns
from circuitlab.analysis.align import compare_models
from circuitlab.analysis.languages import compare_languages
from circuitlab.analysis.overlap import top_k_heads
from circuitlab.analysis.tradeoff import editing_vs_preserving
from circuitlab.analysis.transfer import DIFFICULTY_MEASURES
from circuitlab.plots.comparisons import model_alignment_plot, overlap_curves_plot, overlap_matrix_plot
from circuitlab.plots.export import save_figure
from circuitlab.plots.heatmaps import difference_heatmap, head_heatmap
from circuitlab.plots.representations import cka_plot
from circuitlab.plots.tradeoff import accuracy_vs_shots, forgetting_vs_gain_scatter, tradeoff_scatter

GROUP_KEYS = ("model", "method", "language")
SETTING_KEYS = ("proxy", "k", "shots")


@dataclass
class StandardFigures:
    """Figures by name, what each was made from, and what could not be drawn.

    Attributes:
        figures: ``{name: Figure}`` in drawing order.
        notes: ``{name: {...}}``: the inputs and parameters behind each figure.
        skipped: ``{what: why}`` for every standard figure that could not be drawn.
    """

    figures: dict[str, go.Figure] = field(default_factory=dict)
    notes: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, fig: go.Figure, **note: object) -> None:
        self.figures[name] = fig
        self.notes[name] = {"title": fig.layout.title.text, **note}


def slug(*parts: object) -> str:
    """A file-name-safe name: parts joined by ``__``, each reduced to ``[A-Za-z0-9._-]``."""
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)).strip("-") or "x" for p in parts)


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


def _settings(results: pd.DataFrame, keys: Sequence[str]) -> list[tuple[dict, pd.DataFrame]]:
    """Split results by the setting columns that vary (one sub-table per setting).

    Methods without heads (full, direct, lora …) have no ``k``: their rows join the sub-table of every ``k``
    with the same other settings, as references, rather than forming a ``k=nan`` setting of their own
    (where no headed method shares their other settings, they get a sub-table of their own).
    """
    results = results.reset_index(drop=True)
    headed, shared = results, None
    if "k" in keys and "k" in results.columns and results["k"].isna().any() and results["k"].notna().any():
        headed, shared = results[results["k"].notna()], results[results["k"].isna()]
    varying = [c for c in keys if c in results.columns
               and (headed if c == "k" else results)[c].nunique(dropna=False) > 1]
    if not varying:
        return [({}, results)]
    tidy = lambda setting: {c: int(v) if isinstance(v, float) and v.is_integer() else v  # noqa: E731
                            for c, v in setting.items()}
    out, used = [], set()
    for key, g in headed.groupby(varying, sort=True, dropna=False):
        setting = dict(zip(varying, key if isinstance(key, tuple) else (key,)))
        if shared is not None:
            ref = shared
            for c, v in setting.items():
                if c != "k":
                    ref = ref[ref[c].eq(v) | (ref[c].isna() & pd.isna(v))]
            used.update(ref.index)
            g = pd.concat([g, ref])
        out.append((tidy(setting), g))
    if shared is not None and len(used) < len(shared):
        rest, other = shared.drop(index=sorted(used)), [c for c in varying if c != "k"]
        if not other:
            out.append(({}, rest))
        else:
            for key, g in rest.groupby(other, sort=True, dropna=False):
                out.append((tidy(dict(zip(other, key if isinstance(key, tuple) else (key,)))), g))
    return out


def _canonical_targets(df: pd.DataFrame) -> pd.DataFrame:
    """Targets as canonical NusaX names (``jav`` -> ``javanese``) when every one is a NusaX language."""
    from circuitlab.data.errors import DataError
    from circuitlab.data.nusax import nusax_language

    try:
        mapped = [nusax_language(str(t)) for t in df["target"]]
    except DataError:
        return df
    return df.assign(target=mapped)


def _difficulty_from_results(results: pd.DataFrame) -> pd.DataFrame | None:
    """A0 (and its gap to the proxy) per target from the cells that start from θ1 (never ``direct``'s base)."""
    if "target_acc_before" not in results.columns:
        return None
    from circuitlab.analysis.transfer import theta1_cells

    results = theta1_cells(results)
    if results["target_acc_before"].isna().all():
        return None
    d = results.groupby("target", as_index=False)["target_acc_before"].mean().rename(columns={"target_acc_before": "a0"})
    if "proxy_acc_before" in results.columns:
        d["gap"] = results.groupby("target")["proxy_acc_before"].mean().to_numpy() - d["a0"].to_numpy()
    return d


def _results_figures(out: StandardFigures, results: pd.DataFrame, difficulty: pd.DataFrame | None,
                     measures: Sequence[str] | None, editing: str, preserving: str, n_boot: int, seed: int) -> None:
    settings = _settings(results, SETTING_KEYS)
    if "target" in results.columns:
        derived = _difficulty_from_results(results)
        if difficulty is None:
            difficulty = derived
        elif derived is not None and "target" in difficulty.columns:  # A0/gap from the runs fill what the table lacks
            extra = [c for c in derived.columns if c != "target" and c not in difficulty.columns]
            difficulty = difficulty.merge(derived[["target", *extra]], on="target", how="left") if extra else difficulty
    methods = set(results["method"].astype(str)) if "method" in results.columns else set()
    if "target" not in results.columns:
        out.skipped["tradeoff"] = "the results have no 'target' column"
    elif difficulty is None:
        out.skipped["tradeoff"] = "no difficulty table (pass --difficulty, or results with target_acc_before)"
    elif not {editing, preserving} <= methods:
        out.skipped["tradeoff"] = f"the results lack method(s) {sorted({editing, preserving} - methods)}"
    else:
        require_columns(difficulty, ["target"], "difficulty table")
        known = [m for m in (measures or DIFFICULTY_MEASURES) if m in difficulty.columns
                 and difficulty[m].notna().any()]
        unknown = [m for m in (measures or []) if m not in difficulty.columns]
        if unknown:
            raise ValueError(f"Measure(s) {unknown} are not columns of the difficulty table {list(difficulty.columns)}.")
        if not known:
            out.skipped["tradeoff"] = f"the difficulty table has none of the measures {list(DIFFICULTY_MEASURES)}"
        diff = difficulty.drop(columns=[c for c in difficulty.columns if c in ("proxy",)])
        diff = diff.groupby("target", as_index=False).first() if diff["target"].duplicated().any() else diff
        if not set(diff["target"]) & set(results["target"]):
            results, diff = _canonical_targets(results), _canonical_targets(diff)
            settings = _settings(results, SETTING_KEYS)
        for setting, sub in settings:
            try:
                trade = editing_vs_preserving(sub, diff, editing=editing, preserving=preserving, seed=seed)
            except ValueError as exc:
                out.skipped[slug("tradeoff", *[f"{k}{v}" for k, v in setting.items()])] = str(exc)
                continue
            for m in known:
                tag = [f"{k}{v}" for k, v in setting.items()]
                suffix = " · " + ", ".join(f"{k}={v}" for k, v in setting.items()) if setting else ""
                fig = tradeoff_scatter(trade, m, n_boot=n_boot, seed=seed,
                                       title=f"{editing} − {preserving} against {m}{suffix}")
                out.add(slug("tradeoff", m, *tag), fig, kind="tradeoff", measure=m, setting=setting,
                        meta=dict(fig.layout.meta), table=trade.to_dict(orient="records"))
    if "forgetting" in results.columns and "target_acc" in results.columns:
        for setting, sub in _settings(results, ("proxy", "k", "shots")):
            tag = [f"{k}{v}" for k, v in setting.items()]
            suffix = " · " + ", ".join(f"{k}={v}" for k, v in setting.items()) if setting else ""
            out.add(slug("forgetting_vs_gain", *tag), forgetting_vs_gain_scatter(sub, title=f"Forgetting vs target gain{suffix}"),
                    kind="forgetting_vs_gain", setting=setting)
    else:
        out.skipped["forgetting_vs_gain"] = "the results lack 'forgetting' or 'target_acc'"
    if "shots" in results.columns and results["shots"].nunique() > 1:
        for setting, sub in _settings(results, ("proxy", "k")):
            tag = [f"{k}{v}" for k, v in setting.items()]
            try:
                out.add(slug("accuracy_vs_shots", *tag), accuracy_vs_shots(sub), kind="accuracy_vs_shots", setting=setting)
            except ValueError as exc:
                out.skipped[slug("accuracy_vs_shots", *tag)] = str(exc)
    else:
        out.skipped["accuracy_vs_shots"] = "the results hold one number of shots at most"


def standard_figures(
    scores: pd.DataFrame | None = None,
    results: pd.DataFrame | None = None,
    difficulty: pd.DataFrame | None = None,
    cka: pd.DataFrame | None = None,
    *,
    k: int = 6,
    reference: str | None = "indonesian",
    n_perm: int = 1000,
    n_bins: int | None = None,
    k_bins: int = 3,
    measures: Sequence[str] | None = None,
    editing: str = "circuit",
    preserving: str = "nearzero",
    n_boot: int = 2000,
    seed: int = 0,
) -> StandardFigures:
    """Every standard figure that ``scores``, ``results`` and ``difficulty`` allow (see the module docstring).

    Args:
        scores: head-score tables stacked (``layer, head, score`` and ``model, method, language``).
        results: tuning results (``target, method, seed, target_acc`` …, as in
            :func:`~circuitlab.analysis.editing_vs_preserving`).
        difficulty: one row per ``target`` with difficulty columns (``TransferDifficulty.table``).
        cka: per-layer CKA of each target to the proxy (``TransferDifficulty.cka``).
        k: heads outlined in heatmaps and compared by Jaccard.
        reference: the language the overlap curves and differences are drawn against when present.
        n_perm: permutations of the chance baseline.
        n_bins, k_bins: relative-depth bins (default: the smaller model's layer count) and top bins compared.
        measures: the difficulty columns to plot (default: every known measure present).
        editing, preserving: the two methods whose difference Δ the trade-off plots.
        n_boot, seed: bootstrap of the rank correlation; seed of every random step.
    """
    out = StandardFigures()
    if scores is None and results is None and cka is None:
        raise ValueError("Nothing to plot: give head-score tables, tuning results, or a CKA table.")
    if scores is not None:
        _score_figures(out, scores, k, reference, n_perm, seed, n_bins, k_bins)
    if results is not None:
        if "status" in results.columns:  # failed/diverged runs carry no metrics worth drawing
            failed = int((results["status"] != "ok").sum())
            results = results[results["status"] == "ok"]
            if failed:
                out.skipped["failed runs"] = f"{failed} result row(s) with status != 'ok' left out"
        _results_figures(out, results, difficulty, measures, editing, preserving, n_boot, seed)
    elif difficulty is not None:
        out.skipped["tradeoff"] = "a difficulty table without tuning results"
    if cka is not None:
        require_columns(cka, ["layer", "cka"], "CKA table")
        out.add("cka_by_layer", cka_plot(cka), kind="cka",
                targets=sorted(map(str, cka["target"].unique())) if "target" in cka.columns else None)
    return out


def _jsonable(x: object) -> object:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):
        try:
            return x.item()
        except (ValueError, TypeError):
            pass
    if isinstance(x, float) and x != x:
        return None
    return x if isinstance(x, (str, int, float, bool, type(None))) else str(x)


def save_figures(figs: StandardFigures, out_dir: str | Path, formats: Sequence[str] = ("html", "png"),
                 sources: Mapping[str, object] | None = None, progress: bool = True) -> Path:
    """Write every figure as ``<out_dir>/<name>.<fmt>``, plus ``figures.json`` and ``index.html``; return the manifest."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[str]] = {}
    for name, fig in tqdm(figs.figures.items(), desc="saving figures", disable=not progress, leave=False):
        files[name] = [p.name for p in save_figure(fig, out / name, formats=formats)]
    manifest = {
        "sources": _jsonable(dict(sources or {})),
        "formats": list(formats),
        "figures": {name: {"files": files[name], **_jsonable(figs.notes[name])} for name in figs.figures},
        "skipped": figs.skipped,
    }
    path = out / "figures.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    items = []
    for name, info in manifest["figures"].items():
        links = " ".join(f'<a href="{escape(f)}">{escape(f.rsplit(".", 1)[-1])}</a>' for f in info["files"])
        png = next((f for f in info["files"] if f.endswith(".png")), None)
        img = f'<br><img src="{escape(png)}" width="480">' if png else ""
        items.append(f"<li><b>{escape(str(info.get('title') or name))}</b> ({links}){img}</li>")
    skipped = "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in figs.skipped.items())
    (out / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>circuitlab figures</title>"
        f"<h1>circuitlab figures</h1><ul>{''.join(items)}</ul>"
        + (f"<h2>Not drawn</h2><ul>{skipped}</ul>" if skipped else ""),
        encoding="utf-8",
    )
    return path


__all__ = ["StandardFigures", "save_figures", "slug", "standard_figures"]
