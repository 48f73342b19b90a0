"""The results table: one row per finished cell, key and metric columns first in a fixed order."""

from __future__ import annotations

from typing import Any

import pandas as pd

#: The cell coordinates, first in every results table.
KEY_COLUMNS = ["proxy", "target", "method", "k", "shots", "seed"]
#: The tuning package's results columns, in this order in every results table.
METRIC_COLUMNS = [
    "target_acc", "target_f1", "target_acc_before", "proxy_acc_before", "proxy_acc_after", "forgetting",
    "param_fraction", "n_params_updated", "lr", "wall_s", "branch",
]


def results_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows to a table with the key and metric columns first, in a fixed order."""
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=KEY_COLUMNS + METRIC_COLUMNS + ["cell_id"])
    for c in KEY_COLUMNS + METRIC_COLUMNS:
        if c not in df.columns:
            df[c] = None
    extra = [c for c in df.columns if c not in KEY_COLUMNS + METRIC_COLUMNS + ["cell_id"]]
    df = df[KEY_COLUMNS + METRIC_COLUMNS + extra + ["cell_id"]]
    # k mixes counts, fractions and None: keep it numeric (NaN for methods without a head budget).
    df["k"] = pd.to_numeric(df["k"], errors="coerce")
    return df


__all__ = ["KEY_COLUMNS", "METRIC_COLUMNS", "results_frame"]
