"""Synthetic rows: tables made by the fake test backend, and how figures say so.

The fake backend (:mod:`circuitlab.experiments.fake`) stamps every row it makes
with ``backend = "fake"``: its numbers are a hash of each cell's coordinates, made
to exercise the sweep machinery, not measurements. Whatever is drawn or tabulated
from such rows must say so. A table without a ``backend`` column (run folders from
before the stamp, hand-made tables) counts as real.

Used by the run report (:mod:`circuitlab.experiments.report`) and the standard
figures (:mod:`circuitlab.plots.standard`, ``circuitlab plot``); kept light (pandas
only) so that either can import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import plotly.graph_objects as go

FAKE_BACKEND = "fake"  # FakeBackend.name
FAKE_LABEL = "FAKE BACKEND"


def fake_rows(table: pd.DataFrame) -> pd.Series:
    """Per row: whether the fake backend made it (all ``False`` without a ``backend`` column)."""
    if "backend" not in table.columns:
        return pd.Series(False, index=table.index)
    return table["backend"].astype("string").eq(FAKE_BACKEND).fillna(False).astype(bool)


def n_fake_rows(table: pd.DataFrame | None) -> int:
    """How many rows of ``table`` the fake backend made (0 for ``None``)."""
    return 0 if table is None else int(fake_rows(table).sum())


def label_fake(fig: go.Figure) -> go.Figure:
    """Put ``FAKE BACKEND`` at the front of the figure's title (once), in place; return the figure."""
    title = fig.layout.title.text or ""
    if not title.startswith(FAKE_LABEL):
        fig.update_layout(title_text=f"{FAKE_LABEL} · {title}" if title else FAKE_LABEL)
    return fig


__all__ = ["FAKE_BACKEND", "FAKE_LABEL", "fake_rows", "label_fake", "n_fake_rows"]
