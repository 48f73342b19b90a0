"""Small fixed tables for the figure tests."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pytest


def _scores(grid: Sequence[Sequence[float]], **meta: object) -> pd.DataFrame:
    rows = [(l, h, float(s)) for l, row in enumerate(grid) for h, s in enumerate(row)]
    df = pd.DataFrame(rows, columns=["layer", "head", "score"])
    df["rank"] = df["score"].rank(ascending=False, method="first").astype(int)
    for key, value in {"method": "cdt-directional", "model": "tiny", "language": "ind", "seed": 0, **meta}.items():
        df[key] = value
    return df


@pytest.fixture
def table_a() -> pd.DataFrame:
    return _scores([[0.5, -0.2, 0.1], [0.9, 0.0, -0.7]], language="ind")


@pytest.fixture
def table_b() -> pd.DataFrame:
    return _scores([[0.4, 0.3, -0.1], [0.8, 0.2, -0.5]], language="jav")


@pytest.fixture
def results() -> pd.DataFrame:
    """Two targets x two methods x two shot counts x two seeds."""
    rows = []
    acc = {"circuit": 0.50, "nearzero": 0.45}
    for target, bump in (("ace", 0.0), ("jav", 0.1)):
        for method, base in acc.items():
            for shots in (25, 100):
                for seed, noise in ((31, -0.01), (777, 0.01)):
                    rows.append(dict(proxy="ind", target=target, method=method, k=18, shots=shots, seed=seed,
                                     target_acc=base + bump + shots / 1000 + noise,
                                     forgetting=0.02 if method == "circuit" else 0.01))
    return pd.DataFrame(rows)
