"""Do different languages use the same circuit? A thin layer over :mod:`overlap`.

Context: NusaX is parallel, so one checkpoint can be scored on the *same*
sentences in several languages; any difference between the score tables is
then the language's, not the content's. This module takes one head-score table
per language (a mapping, or one stacked table with a ``language`` column) and
returns every pairwise comparison at once:

- top-``k`` Jaccard, with the permutation chance level and p-value of
  :func:`~circuitlab.analysis.overlap_curve`;
- Spearman's rho over all heads;
- the overlap-versus-k curves against one reference language (the proxy);
- the two square matrices that :func:`~circuitlab.plots.overlap_matrix_plot` draws.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import pandas as pd

from circuitlab.analysis._tables import as_frame, require_columns
from circuitlab.analysis.overlap import overlap_curve, overlap_matrix, spearman, spearman_matrix

def split_by(df: pd.DataFrame, column: str = "language") -> dict[str, pd.DataFrame]:
    """``{value: rows}`` of a stacked table, one entry per value of ``column`` (in order of appearance)."""
    require_columns(df, [column], "stacked head-score table")
    return {str(v): g.reset_index(drop=True) for v, g in df.groupby(column, sort=False)}


def _tables(scores: Mapping[str, object] | pd.DataFrame | Iterable[object], column: str) -> dict[str, pd.DataFrame]:
    if isinstance(scores, pd.DataFrame):
        return split_by(scores, column)
    if isinstance(scores, Mapping):
        return {str(name): as_frame(t) for name, t in scores.items()}
    out: dict[str, pd.DataFrame] = {}
    for t in scores:  # HeadScores objects: name each by its own language column
        df = as_frame(t)
        require_columns(df, [column], "head-score table")
        names = df[column].unique()
        if len(names) != 1:
            raise ValueError(f"A table in the list holds {len(names)} values of {column!r}; pass a mapping instead.")
        out[str(names[0])] = df
    return out


@dataclass(frozen=True)
class LanguageComparison:
    """Every pairwise comparison of one model's circuits across languages.

    Attributes:
        pairs: one row per unordered pair ``a, b``: ``jaccard`` (top-k), ``chance_mean``,
            ``chance_lo``, ``chance_hi``, ``p_value`` (permutation) and ``spearman``.
        jaccard: square top-k Jaccard matrix (``attrs["k"]``), for :func:`overlap_matrix_plot`.
        spearman: square Spearman matrix.
        curves: overlap-versus-k of every language against ``reference``, stacked with a
            ``language`` column (empty without a reference).
        k: the top-k size compared.
        reference: the language the curves are drawn against (the proxy), or ``None``.
    """

    pairs: pd.DataFrame
    jaccard: pd.DataFrame = field(repr=False)
    spearman: pd.DataFrame = field(repr=False)
    curves: pd.DataFrame = field(repr=False)
    k: int
    reference: str | None

    @property
    def languages(self) -> list[str]:
        return [str(x) for x in self.jaccard.index]


def compare_languages(
    scores: Mapping[str, object] | pd.DataFrame | Iterable[object],
    k: int,
    reference: str | None = None,
    ks: Sequence[int] | None = None,
    n_perm: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    column: str = "language",
) -> LanguageComparison:
    """Compare one model's head scores across languages.

    Args:
        scores: ``{language: table}`` (DataFrames or ``HeadScores``), a list of
            ``HeadScores`` each holding one language, or one stacked table split by ``column``.
        k: the circuit size for Jaccard (e.g. the number of heads CT-SFT would tune).
        reference: draw overlap-versus-k curves of every other language against this one
            (default: the first language).
        ks: the k values of those curves (default ``1..min(4k, grid)``).
        n_perm, seed, ci: the permutation chance band (see :func:`overlap_curve`).
        column: the column naming the language in a stacked table.

    All tables must cover the same (layer, head) grid, i.e. come from one model.
    """
    tables = _tables(scores, column)
    if len(tables) < 2:
        raise ValueError(f"Comparing languages needs at least two score tables, got {list(tables)}.")
    names = list(tables)
    reference = names[0] if reference is None else str(reference)
    if reference not in tables:
        raise ValueError(f"reference {reference!r} is not one of the languages {names}.")
    rows = []
    for a, b in combinations(names, 2):
        point = overlap_curve(tables[a], tables[b], [k], n_perm=n_perm, seed=seed, ci=ci).iloc[0]
        rows.append({"a": a, "b": b, "k": k, **{c: float(point[c]) for c in
                     ("jaccard", "chance_mean", "chance_lo", "chance_hi", "p_value")},
                     "spearman": spearman(tables[a], tables[b])})
    pairs = pd.DataFrame(rows)
    grid = len(tables[reference])
    ks = list(ks) if ks is not None else list(range(1, min(4 * k, grid) + 1))
    curves = []
    for name in names:
        if name == reference:
            continue
        c = overlap_curve(tables[reference], tables[name], ks, n_perm=n_perm, seed=seed, ci=ci)
        c.insert(0, "language", name)
        curves.append(c)
    curve_df = pd.concat(curves, ignore_index=True)
    curve_df.attrs.update(reference=reference, n_perm=n_perm, seed=seed, ci=ci, grid_size=grid)
    pairs.attrs.update(k=k, n_perm=n_perm, seed=seed, ci=ci)
    return LanguageComparison(
        pairs=pairs, jaccard=overlap_matrix(tables, k), spearman=spearman_matrix(tables), curves=curve_df,
        k=k, reference=reference,
    )


__all__ = ["LanguageComparison", "as_frame", "compare_languages", "split_by"]
