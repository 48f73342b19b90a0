"""Do two head rankings pick the same circuit?

Context: CT-SFT selects the top-k heads of a score table. Two tables (two
languages, two scorers, two seeds) can be compared in two ways:

- **set overlap** of their top-k heads (Jaccard), read against *chance*: the
  Jaccard of two random k-subsets of the same grid. The chance band comes from a
  seeded permutation baseline, so a small overlap on a big grid can still be far
  above chance;
- **rank agreement** over all heads (Spearman's rho on scores aligned by
  ``(layer, head)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from circuitlab.errors import UserError
from circuitlab.analysis._tables import head_scores
from circuitlab.analysis.stats import _check_ci, spearman_rho
from circuitlab.heads import HeadSet


def top_k_heads(scores_df: pd.DataFrame, k: int) -> HeadSet:
    """The ``k`` highest-scoring heads (ties broken by lower layer, then lower head)."""
    s = head_scores(scores_df)
    if not 0 <= k <= len(s):
        raise UserError(f"k must lie in 0..{len(s)} (the number of heads in the table), got {k}.")
    frame = s.reset_index()
    frame = frame.sort_values(["score", "layer", "head"], ascending=[False, True, True], kind="mergesort")
    return HeadSet.of(zip(frame["layer"].head(k), frame["head"].head(k)))


def jaccard(a: HeadSet, b: HeadSet) -> float:
    """|a ∩ b| / |a ∪ b|; two empty sets count as identical (1.0)."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def _same_grid(df_a: pd.DataFrame, df_b: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    sa, sb = head_scores(df_a, "first head-score table"), head_scores(df_b, "second head-score table")
    if not sa.index.equals(sb.index):
        only_a, only_b = sa.index.difference(sb.index), sb.index.difference(sa.index)
        raise UserError(
            f"The two tables cover different heads ({len(only_a)} only in the first, {len(only_b)} only in the "
            "second); top-k overlap needs the same grid. For two models use "
            "circuitlab.analysis.align.compare_models."
        )
    return sa, sb


def overlap_curve(
    df_a: pd.DataFrame,
    df_b: pd.DataFrame,
    ks: Iterable[int],
    n_perm: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Top-k Jaccard for every k in ``ks``, with a permutation chance band.

    Chance: the heads of the second table are shuffled ``n_perm`` times (seeded),
    which makes its top-k a uniformly random k-subset of the same grid; the
    Jaccard with the first table's real top-k is recorded per k.

    Returns columns ``k, jaccard, chance_mean, chance_lo, chance_hi, p_value``:
    the band is the central ``ci`` interval of the permutation Jaccards and
    ``p_value`` the one-sided permutation p-value ``(1 + #{chance >= observed}) /
    (1 + n_perm)``. ``attrs`` records ``n_perm``, ``seed``, ``ci`` and the grid size.
    """
    _check_ci(ci)
    if n_perm < 1:
        raise ValueError(f"n_perm must be at least 1, got {n_perm}.")
    sa, _ = _same_grid(df_a, df_b)
    n = len(sa)
    ks = [int(k) for k in ks]
    bad = [k for k in ks if not 1 <= k <= n]
    if bad:
        raise ValueError(f"Every k must lie in 1..{n} (the grid size), got {bad}.")
    index = {head: i for i, head in enumerate(sa.index)}
    rng = np.random.default_rng(seed)
    perms = rng.permuted(np.tile(np.arange(n), (n_perm, 1)), axis=1)  # row p: a random ranking of the grid
    alpha = (1.0 - ci) / 2.0
    rows = []
    for k in ks:
        top_a, top_b = top_k_heads(df_a, k), top_k_heads(df_b, k)
        observed = jaccard(top_a, top_b)
        in_a = np.zeros(n, dtype=bool)
        in_a[[index[(h.layer, h.head)] for h in top_a]] = True
        inter = in_a[perms[:, :k]].sum(axis=1)
        chance = inter / (2 * k - inter)
        lo, hi = np.quantile(chance, [alpha, 1.0 - alpha])
        p = (1 + int((chance >= observed - 1e-12).sum())) / (1 + n_perm)
        rows.append((k, observed, float(chance.mean()), float(lo), float(hi), p))
    out = pd.DataFrame(rows, columns=["k", "jaccard", "chance_mean", "chance_lo", "chance_hi", "p_value"])
    out.attrs.update(n_perm=n_perm, seed=seed, ci=ci, grid_size=n)
    return out


def spearman(df_a: pd.DataFrame, df_b: pd.DataFrame) -> float:
    """Spearman's rho between two score tables on the heads they share (average ranks for ties)."""
    sa = head_scores(df_a, "first head-score table")
    sb = head_scores(df_b, "second head-score table")
    common = sa.index.intersection(sb.index)
    if len(common) < 2:
        raise ValueError(f"The two tables share {len(common)} head(s); Spearman's rho needs at least 2.")
    return spearman_rho(sa.loc[common].to_numpy(), sb.loc[common].to_numpy())


def _pairwise(tables: Mapping[str, pd.DataFrame], fn: Callable[[pd.DataFrame, pd.DataFrame], float], measure: str) -> pd.DataFrame:
    names = list(tables)
    values = np.array([[fn(tables[a], tables[b]) for b in names] for a in names], dtype=float)
    out = pd.DataFrame(values, index=pd.Index(names, name="a"), columns=pd.Index(names, name="b"))
    out.attrs["measure"] = measure
    return out


def overlap_matrix(tables: Mapping[str, pd.DataFrame], k: int) -> pd.DataFrame:
    """Square table of top-k Jaccard between every pair of named tables (e.g. languages)."""
    tops = {name: top_k_heads(df, k) for name, df in tables.items()}
    out = _pairwise(tops, jaccard, "jaccard")  # type: ignore[arg-type]
    out.attrs["k"] = k
    return out


def spearman_matrix(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Square table of Spearman's rho between every pair of named tables."""
    return _pairwise(tables, spearman, "spearman")


__all__ = ["jaccard", "overlap_curve", "overlap_matrix", "spearman", "spearman_matrix", "top_k_heads"]
