"""``ctsft-auto``: choose between editing (``circuit``) and preserving (``nearzero``) on validation.

The paper reports as "CT-SFT" the better of Circuit and NearZero *on the test
set*, which lets the test set pick the method. Here the choice is made per run
(target, seed, k, shots) on target **validation** accuracy (ties: validation
macro-F1, then ``circuit``), and the chosen branch's test metrics are reported
under the method name ``ctsft-auto`` with the branch in ``auto_branch``. No
extra training is needed: the two branches are ordinary runs.
"""

from __future__ import annotations

import pandas as pd

AUTO_METHOD = "ctsft-auto"
BRANCHES = ("circuit", "nearzero")
_KEYS = ("proxy", "target", "seed", "k", "shots")


def choose_branch(circuit: dict, nearzero: dict) -> str:
    """``"circuit"`` or ``"nearzero"``: higher validation accuracy, then macro-F1, then circuit."""
    def key(r: dict) -> tuple:
        return (_num(r.get("val_acc")), _num(r.get("val_f1")))

    return "nearzero" if key(nearzero) > key(circuit) else "circuit"


def _num(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("-inf")
    return v if v == v else float("-inf")


def add_auto_rows(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with a ``ctsft-auto`` row for every run that has both branches finished (``auto_branch`` set)."""
    df = results[results["method"] != AUTO_METHOD].copy() if "method" in results else results.copy()
    if "auto_branch" not in df:
        df["auto_branch"] = None
    keys = [k for k in _KEYS if k in df.columns]
    ok = df[(df["method"].isin(BRANCHES)) & (df.get("status", "ok") == "ok")]
    rows = []
    for _, g in ok.groupby(keys, dropna=False, sort=False):
        by_method = {m: r for m, r in zip(g["method"], g.to_dict("records"))}
        if not all(b in by_method for b in BRANCHES):
            continue
        branch = choose_branch(by_method["circuit"], by_method["nearzero"])
        row = dict(by_method[branch])
        row.update(method=AUTO_METHOD, auto_branch=branch, run_id=str(row.get("run_id", "")).replace(
            f"-{branch}-", f"-{AUTO_METHOD}-"), delta_dir=row.get("delta_dir"))
        rows.append(row)
    return pd.concat([df, pd.DataFrame(rows)], ignore_index=True) if rows else df
