"""Small fixed tables for the analysis tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import pytest


def scores_table(grid: Sequence[Sequence[float]], **meta: object) -> pd.DataFrame:
    """A head-score table from a ``[layer][head]`` grid of scores (rank 1 = highest)."""
    rows = [(l, h, float(s)) for l, row in enumerate(grid) for h, s in enumerate(row)]
    df = pd.DataFrame(rows, columns=["layer", "head", "score"])
    df["rank"] = df["score"].rank(ascending=False, method="first").astype(int)
    defaults = dict(method="cdt-directional", model="tiny", language="ind", n_examples=50, seed=0)
    for key, value in {**defaults, **meta}.items():
        df[key] = value
    return df


@pytest.fixture
def make_scores() -> Callable[..., pd.DataFrame]:
    return scores_table


@pytest.fixture
def table_a() -> pd.DataFrame:
    # order: (1,0) .9 > (0,0) .5 > (0,2) .1 > (1,1) 0 > (0,1) -.2 > (1,2) -.7
    return scores_table([[0.5, -0.2, 0.1], [0.9, 0.0, -0.7]], language="ind")


@pytest.fixture
def table_b() -> pd.DataFrame:
    # order: (1,0) .8 > (0,0) .4 > (0,1) .3 > (1,1) .2 > (0,2) -.1 > (1,2) -.5
    return scores_table([[0.4, 0.3, -0.1], [0.8, 0.2, -0.5]], language="jav")
