"""Checks and small accessors shared by the analysis functions.

Every function here takes one of the package's tidy tables (head scores, tuning
results) and either returns a clean view of it or raises an error that says what
was missing and how to fix it.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

HEAD_KEY = ["layer", "head"]


def require_columns(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` naming every column of ``columns`` that ``df`` lacks."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"The {what} lacks column(s) {missing}; it has {list(df.columns)}. "
            f"Pass a {what} with those columns."
        )


def as_frame(scores: object) -> pd.DataFrame:
    """A head-score DataFrame from a DataFrame or a :class:`~circuitlab.discovery.HeadScores` (its ``.table``)."""
    if isinstance(scores, pd.DataFrame):
        return scores
    table = getattr(scores, "table", None)
    if isinstance(table, pd.DataFrame):
        return table
    raise TypeError(f"Expected a head-score DataFrame or a HeadScores, got {type(scores).__name__}.")


def head_scores(df: pd.DataFrame, what: str = "head-score table") -> pd.Series:
    """The ``score`` column indexed by ``(layer, head)``, one value per head.

    A table that holds a head twice (several seeds, depths or languages stacked
    together) is ambiguous here, so it fails with a hint to filter it first.
    """
    df = as_frame(df)
    require_columns(df, [*HEAD_KEY, "score"], what)
    dup = df.duplicated(HEAD_KEY, keep=False)
    if dup.any():
        example = df.loc[dup, HEAD_KEY].iloc[0].tolist()
        raise ValueError(
            f"The {what} holds head (layer, head)={tuple(example)} more than once ({int(dup.sum())} duplicated "
            "rows). Expected one row per head: filter it to one seed/depth/language first."
        )
    s = df.set_index(HEAD_KEY)["score"].astype(float)
    return s.sort_index()
