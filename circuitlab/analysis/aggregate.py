"""Mean ± std over seeds, the form every results table is reported in."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from circuitlab.analysis._tables import require_columns


def aggregate_seeds(
    results_df: pd.DataFrame,
    by: Sequence[str] = ("proxy", "target", "method", "k", "shots"),
    metrics: Sequence[str] = ("target_acc", "target_f1", "proxy_acc_after", "forgetting"),
    ddof: int = 1,
    digits: int | None = None,
) -> pd.DataFrame:
    """One row per group of ``by``: ``<metric>_mean``, ``<metric>_std`` and ``n`` (runs).

    NaNs are skipped inside a metric; ``std`` of a single run is NaN (``ddof=1``).
    With ``digits`` set, a ``<metric>_pm`` text column ``"0.547 ± 0.012"`` is added
    for tables in papers.
    """
    by, metrics = list(by), list(metrics)
    require_columns(results_df, by + metrics, "results table")
    grouped = results_df.groupby(by, sort=True, dropna=False)
    out = grouped.size().rename("n").to_frame()
    for m in metrics:
        out[f"{m}_mean"] = grouped[m].mean()
        out[f"{m}_std"] = grouped[m].std(ddof=ddof)
        if digits is not None:
            out[f"{m}_pm"] = [
                f"{mu:.{digits}f} ± {sd:.{digits}f}" if pd.notna(sd) else f"{mu:.{digits}f}"
                for mu, sd in zip(out[f"{m}_mean"], out[f"{m}_std"])
            ]
    out = out.reset_index()
    suffixes = ["mean", "std"] + (["pm"] if digits is not None else [])
    out = out[by + [f"{m}_{s}" for m in metrics for s in suffixes] + ["n"]]
    out.attrs.update(by=by, metrics=metrics, ddof=ddof)
    return out
