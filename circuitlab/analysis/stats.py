"""Small statistics the analyses share: average ranks, Spearman's rho, Student-t
quantiles and percentile intervals.

The numerics come from SciPy (``scipy.stats`` / ``scipy.special``); this module
only fixes the conventions the analyses rely on: NaN handling, NaN rather than a
warning for undefined correlations, and argument checks with readable errors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from jaxtyping import Float
from scipy import special, stats

from circuitlab.errors import UserError

ArrayLike = Sequence[float] | np.ndarray


def average_ranks(x: ArrayLike) -> Float[np.ndarray, "n"]:
    """1-based ranks of ``x`` with ties given the mean of the ranks they span.

    ``[10, 20, 20, 30] -> [1, 2.5, 2.5, 4]``. NaN is refused: drop it first.
    """
    a = np.asarray(x, dtype=float)
    if np.isnan(a).any():
        raise UserError("average_ranks got NaN; drop missing values before ranking.")
    return stats.rankdata(a, method="average").astype(float)


def pearson(x: ArrayLike, y: ArrayLike) -> float:
    """Pearson correlation; NaN when either input is constant."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom > 0 else float("nan")


def spearman_rho(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman's rho: Pearson correlation of average ranks.

    Pairs where either value is NaN are dropped; fewer than two pairs, or a
    constant input, gives NaN (as SciPy does).
    """
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise UserError(f"spearman_rho needs two 1-D inputs of the same length, got shapes {a.shape} and {b.shape}.")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    if a.size < 2:
        return float("nan")
    return pearson(average_ranks(a), average_ranks(b))


def percentile_interval(samples: ArrayLike, ci: float = 0.95) -> tuple[float, float]:
    """The central ``ci`` interval of ``samples`` (NaNs ignored; NaN if none left)."""
    _check_ci(ci)
    s = np.asarray(samples, dtype=float)
    s = s[~np.isnan(s)]
    if s.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(s, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def _check_ci(ci: float) -> None:
    if not 0.0 < ci < 1.0:
        raise UserError(f"ci must be a coverage strictly between 0 and 1 (e.g. 0.95), got {ci}.")


# --- Student t ---------------------------------------------------------------------------------------


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b) (0 below x=0, 1 above x=1)."""
    return float(special.betainc(a, b, min(max(x, 0.0), 1.0)))


def _check_df(df: float) -> None:
    if not df > 0:
        raise UserError(f"Degrees of freedom must be positive, got {df}.")


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t with ``df`` (possibly fractional) degrees of freedom."""
    _check_df(df)
    return float(stats.t.cdf(t, df))


def t_ppf(q: float, df: float) -> float:
    """Quantile of Student's t with ``df`` (possibly fractional) degrees of freedom."""
    if not 0.0 < q < 1.0:
        raise UserError(f"q must lie strictly between 0 and 1, got {q}.")
    _check_df(df)
    return float(stats.t.ppf(q, df))
