"""Small statistics the analyses share: average ranks, Spearman's rho, Student-t
quantiles and percentile intervals.

They are written out here (a few lines each) so that the package needs no SciPy at
run time; the tests check them against hand-computed values and against SciPy when
it is installed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from jaxtyping import Float

ArrayLike = Sequence[float] | np.ndarray


def average_ranks(x: ArrayLike) -> Float[np.ndarray, "n"]:
    """1-based ranks of ``x`` with ties given the mean of the ranks they span.

    ``[10, 20, 20, 30] -> [1, 2.5, 2.5, 4]``. NaN is refused: drop it first.
    """
    a = np.asarray(x, dtype=float)
    if np.isnan(a).any():
        raise ValueError("average_ranks got NaN; drop missing values before ranking.")
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    bounds = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])  # start of each tie group, then n
    # a tie group covering sorted positions [start, end) holds ranks start+1..end: mean (start+end+1)/2
    ranks_sorted = np.repeat((bounds[:-1] + bounds[1:] + 1) / 2.0, np.diff(bounds))
    out = np.empty_like(ranks_sorted)
    out[order] = ranks_sorted
    return out


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
        raise ValueError(f"spearman_rho needs two 1-D inputs of the same length, got shapes {a.shape} and {b.shape}.")
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
        raise ValueError(f"ci must be a coverage strictly between 0 and 1 (e.g. 0.95), got {ci}.")


# --- Student t ---------------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            delta = d * c
            h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t with ``df`` (possibly fractional) degrees of freedom."""
    if df <= 0:
        raise ValueError(f"Degrees of freedom must be positive, got {df}.")
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_ppf(q: float, df: float) -> float:
    """Quantile of Student's t (bisection on :func:`t_cdf`, accurate to ~1e-10)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must lie strictly between 0 and 1, got {q}.")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < q:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)
