"""The standard figures from tuning results: editing-vs-preserving trade-off, forgetting vs gain, accuracy vs shots.

Results are split into one sub-table per setting (``proxy, k, shots``, those that
vary); difficulty comes from a difficulty table, from the results' own
``target_acc_before`` (A0), or from both.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from circuitlab.analysis._tables import require_columns
from circuitlab.analysis.tradeoff import editing_vs_preserving
from circuitlab.analysis.transfer import DIFFICULTY_MEASURES
from circuitlab.errors import UserError
from circuitlab.plots.figure_set import StandardFigures, slug
from circuitlab.plots.tradeoff import accuracy_vs_shots, forgetting_vs_gain_scatter, tradeoff_scatter

SETTING_KEYS = ("proxy", "k", "shots")


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
            raise UserError(f"Measure(s) {unknown} are not columns of the difficulty table {list(difficulty.columns)}.")
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
