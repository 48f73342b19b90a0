"""The editing–preserving trade-off, and forgetting against gain.

Context: CT-SFT can *edit* the discovered circuit (tune the top-k heads) or
*preserve* it (tune the same number of near-zero-relevance heads). The paper's
claim to test: harder transfers favour editing, easier ones preserving. Here,
per target, Δ = mean accuracy(editing) − mean accuracy(preserving) over seeds,
with an interval over seeds, is joined with difficulty measures and their rank
correlation is reported with a bootstrap interval, because with four or so
targets the point estimate alone says little.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from circuitlab.errors import UserError
from circuitlab.analysis._tables import require_columns
from circuitlab.analysis.aggregate import aggregate_seeds
from circuitlab.analysis.stats import _check_ci, percentile_interval, spearman_rho, t_ppf

CIMethod = Literal["t", "bootstrap"]


class RankCorrelation(NamedTuple):
    """Spearman's rho with a bootstrap percentile interval ``[lo, hi]``."""

    rho: float
    lo: float
    hi: float


def _seed_values(rows: pd.DataFrame, metric: str, label: str) -> pd.Series:
    dup = rows["seed"].duplicated()
    if dup.any():
        raise UserError(
            f"Method {label!r} has seed {rows.loc[dup, 'seed'].iloc[0]} more than once in one group; "
            "add the distinguishing column (k, shots, proxy ...) to `by` or filter the table first."
        )
    return rows.set_index("seed")[metric].astype(float).dropna()


def _difference_ci(
    e: pd.Series, p: pd.Series, ci: float, ci_method: CIMethod, n_boot: int, rng: np.random.Generator
) -> dict[str, float | int | bool]:
    """Δ = mean(e) − mean(p), paired over the shared seeds when there are at least two."""
    shared = e.index.intersection(p.index)
    alpha = (1.0 - ci) / 2.0
    nan = float("nan")
    if len(shared) >= 2:
        d = (e.loc[shared] - p.loc[shared]).to_numpy()
        n, delta = len(d), float(d.mean())
        if ci_method == "t":
            half = t_ppf(1.0 - alpha, n - 1) * d.std(ddof=1) / math.sqrt(n)
            lo, hi = delta - half, delta + half
        else:
            lo, hi = percentile_interval(d[rng.integers(0, n, (n_boot, n))].mean(axis=1), ci)
        return dict(delta=delta, ci_lo=lo, ci_hi=hi, paired=True, n_pairs=n)
    a, b = e.to_numpy(), p.to_numpy()
    if len(a) == 0 or len(b) == 0:
        return dict(delta=nan, ci_lo=nan, ci_hi=nan, paired=False, n_pairs=0)
    delta = float(a.mean() - b.mean())
    lo = hi = nan
    if len(a) >= 2 and len(b) >= 2:
        if ci_method == "t":  # Welch
            va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
            se = math.sqrt(va + vb)
            if se > 0:
                df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
                half = t_ppf(1.0 - alpha, df) * se
            else:
                half = 0.0
            lo, hi = delta - half, delta + half
        else:
            boot = a[rng.integers(0, len(a), (n_boot, len(a)))].mean(1) - b[rng.integers(0, len(b), (n_boot, len(b)))].mean(1)
            lo, hi = percentile_interval(boot, ci)
    return dict(delta=delta, ci_lo=lo, ci_hi=hi, paired=False, n_pairs=0)


def editing_vs_preserving(
    results_df: pd.DataFrame,
    difficulty: pd.DataFrame,
    editing: str = "circuit",
    preserving: str = "nearzero",
    by: Sequence[str] = ("target",),
    metric: str = "target_acc",
    ci: float = 0.95,
    ci_method: CIMethod = "t",
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Per target: Δ = mean ``metric`` of ``editing`` − that of ``preserving``, with a CI over seeds.

    Seeds run under both methods are paired (Δ is the mean per-seed difference,
    seeds present under one method only are left out); with fewer than two shared
    seeds the two means are compared unpaired (Welch). ``ci_method`` is ``"t"``
    (Student/Welch) or ``"bootstrap"`` (percentile, ``n_boot`` seeded resamples).
    Keep one k/shots setting per group, or add those columns to ``by``.

    Returns ``by`` columns, ``delta, ci_lo, ci_hi, paired, n_pairs, n_editing,
    n_preserving, editing_mean, preserving_mean``, then the measure columns of
    ``difficulty`` (joined on ``target``).
    """
    _check_ci(ci)
    if ci_method not in ("t", "bootstrap"):
        raise UserError(f"ci_method must be 't' or 'bootstrap', got {ci_method!r}.")
    by = list(by)
    require_columns(results_df, by + ["method", "seed", metric], "results table")
    require_columns(difficulty, ["target"], "difficulty table")
    present = set(results_df["method"].unique())
    missing = [m for m in (editing, preserving) if m not in present]
    if missing:
        raise UserError(f"Method(s) {missing} are not in the results table; it has {sorted(map(str, present))}.")
    rng = np.random.default_rng(seed)
    rows = []
    for key, group in results_df.groupby(by, sort=True, dropna=False):
        e = _seed_values(group[group["method"] == editing], metric, editing)
        p = _seed_values(group[group["method"] == preserving], metric, preserving)
        stats = _difference_ci(e, p, ci, ci_method, n_boot, rng)
        keys = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        rows.append({
            **keys, **stats, "n_editing": len(e), "n_preserving": len(p),
            "editing_mean": float(e.mean()) if len(e) else float("nan"),
            "preserving_mean": float(p.mean()) if len(p) else float("nan"),
        })
    out = pd.DataFrame(rows)
    out = out.merge(difficulty, on="target", how="left", validate="many_to_one") if "target" in by else out
    out.attrs.update(editing=editing, preserving=preserving, metric=metric, ci=ci, ci_method=ci_method,
                     n_boot=n_boot if ci_method == "bootstrap" else None, seed=seed)
    return out


def rank_correlation_with_ci(
    x: Sequence[float] | np.ndarray | pd.Series,
    y: Sequence[float] | np.ndarray | pd.Series,
    n_boot: int = 2000,
    seed: int = 0,
    ci: float = 0.95,
) -> RankCorrelation:
    """Spearman's rho of ``(x, y)`` and a bootstrap percentile interval.

    Pairs are resampled with replacement ``n_boot`` times (seeded); resamples whose
    rho is undefined (a constant side, frequent when n is tiny) are skipped. Pairs
    with a NaN are dropped first.
    """
    _check_ci(ci)
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise UserError(f"x and y must be 1-D and of the same length, got shapes {a.shape} and {b.shape}.")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    rho = spearman_rho(a, b)
    if a.size < 3:
        return RankCorrelation(rho, float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, a.size, (n_boot, a.size))
    boot = np.array([spearman_rho(a[i], b[i]) for i in idx])
    lo, hi = percentile_interval(boot, ci)
    return RankCorrelation(rho, lo, hi)


def forgetting_vs_gain(results_df: pd.DataFrame, by: Sequence[str] = ("method",)) -> pd.DataFrame:
    """Per method: mean ± std of forgetting (proxy accuracy lost) and of target gain.

    Gain is ``target_acc - target_acc_before`` when the table has
    ``target_acc_before`` (accuracy before target tuning, A0), else ``target_acc``
    itself; ``attrs["gain"]`` says which.
    """
    require_columns(results_df, ["forgetting", "target_acc"], "results table")
    df = results_df.copy()
    if "target_acc_before" in df.columns:
        df["gain"] = df["target_acc"] - df["target_acc_before"]
        definition = "target_acc - target_acc_before"
    else:
        df["gain"] = df["target_acc"]
        definition = "target_acc (no target_acc_before column)"
    out = aggregate_seeds(df, by=by, metrics=["forgetting", "gain"])
    out.attrs["gain"] = definition
    return out
