"""Paired differences between methods, with a two-level bootstrap over blocks and test examples.

Context
-------
"Does head choice matter?" is a question about small differences (a point or
two of accuracy) between methods that saw the same data: the same target
sample, the same seed, the same test sentences. Comparing their means with
unpaired intervals throws that pairing away. Here every comparison is a
*paired* difference, per test example:

- a **unit** is one pair of cells in the same block (proxy, target, shots,
  seed) and, where both methods take a head budget, the same ``k``; a method
  without one (``full``, ``lora``) is paired with every ``k`` of the other.
  Its per-example difference ``d`` is ``correct_a − correct_b`` (−1, 0 or +1)
  on the target test set (forgetting: ``correct_before − correct_after`` on the
  proxy test set);
- the estimate is the mean over blocks of the block's mean difference (each
  block's ``k`` values averaged: *pooled*; or one ``k`` at a time);
- the interval is a percentile bootstrap that redraws both sources of noise
  in each replicate: the **blocks** (target × seed, with replacement: seeds,
  target samples and random heads vary) and, independently per evaluation
  language, the **test examples** (with replacement; one draw shared by every
  unit evaluated on that language, so the pairing is kept).

Blocks are redrawn across targets, so the interval speaks for targets "like
these" rather than for these six only (wider, not narrower). Redrawing the two
crossed factors independently is Owen's (2007) pigeonhole bootstrap: it holds
its level when test sentences favour one method (a finite test set leans one way
in every seed, which redrawing seeds alone cannot see), and it is conservative
when there are no such effects (the noise is counted more than once; tests
measure 1.6× the exact width on pure noise). Without per-example
bits (runs made before they were kept) the example level is skipped and only
blocks are redrawn: the table says which.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from jaxtyping import Float

from circuitlab.analysis.stats import percentile_interval
from circuitlab.errors import UserError

#: The block a pair of cells shares: everything but the method and k.
BLOCK = ("proxy", "target", "shots", "seed")

#: The comparisons that answer "does head choice matter?" (the issue's three first), as (a, b): a − b.
DEFAULT_COMPARISONS: tuple[tuple[str, str], ...] = (
    ("circuit", "random"), ("circuit", "full"), ("ctsft-auto", "full"),
    ("circuit", "least"), ("circuit", "nearzero"), ("random", "full"), ("circuit", "lora"),
)


@dataclass(frozen=True)
class Unit:
    """One paired unit: its block, ``k`` (``None`` for methods without one), evaluation set and differences."""

    block: Hashable
    k: float | None
    language: str
    d: Float[np.ndarray, "n"]


def bits(text: str | None) -> np.ndarray | None:
    """``"1011"`` -> ``array([1, 0, 1, 1], int8)``; ``None`` or ``""`` -> ``None``."""
    if not isinstance(text, str) or not text:  # None, "" or NaN (a table column with missing bits)
        return None
    return (np.frombuffer(text.encode("ascii"), dtype=np.uint8) - ord("0")).astype(np.int8)


def bootstrap_mean(units: Sequence[Unit], *, n_boot: int = 4000, ci: float = 0.95,
                   seed: int = 0) -> dict[str, float | int]:
    """Mean over blocks of the mean paired difference, with the two-level percentile bootstrap (module doc).

    Returns ``delta, ci_lo, ci_hi, p_boot`` (two-sided: twice the smaller share of replicates on either side
    of 0, at least 1 / n_boot), ``n_blocks``, ``n_units`` and ``n_examples`` (per unit, 1 when only the
    accuracies were known).
    """
    if not units:
        raise UserError("bootstrap_mean got no paired units: the two methods share no finished block.")
    rng = np.random.default_rng(seed)
    blocks = list(dict.fromkeys(u.block for u in units))
    col = {b: i for i, b in enumerate(blocks)}
    # block means of the unit means (the point estimate) and, per replicate, of the resampled unit means
    per_block = np.zeros((n_boot, len(blocks)))
    count = np.zeros(len(blocks))
    point = np.zeros(len(blocks))
    for lang in dict.fromkeys(u.language for u in units):
        mine = [u for u in units if u.language == lang]
        n = {len(u.d) for u in mine}
        if len(n) != 1:
            raise UserError(f"Units evaluated on {lang!r} have different numbers of examples {sorted(n)}; a paired "
                            "bootstrap needs the same test examples in every cell.")
        n_ex = n.pop()
        weights = rng.multinomial(n_ex, np.full(n_ex, 1.0 / n_ex), size=n_boot) / n_ex
        d = np.stack([u.d for u in mine]).astype(np.float64)  # [units, n]
        values = weights @ d.T  # [n_boot, units]: each unit's mean difference on the redrawn examples
        for j, u in enumerate(mine):
            per_block[:, col[u.block]] += values[:, j]
            point[col[u.block]] += float(u.d.mean())
            count[col[u.block]] += 1
    per_block /= count
    point /= count
    draw = rng.integers(0, len(blocks), size=(n_boot, len(blocks)))
    stat = np.take_along_axis(per_block, draw, axis=1).mean(axis=1)
    lo, hi = percentile_interval(stat, ci)
    p = max(2 * min((stat <= 0).mean(), (stat >= 0).mean()), 1.0 / n_boot)
    return dict(delta=float(point.mean()), ci_lo=lo, ci_hi=hi, p_boot=float(min(p, 1.0)), n_blocks=len(blocks),
                n_units=len(units), n_examples=int(np.median([len(u.d) for u in units])))


def _finished(results: pd.DataFrame) -> pd.DataFrame:
    """The rows whose cell finished (``status`` ok, or no status column)."""
    if "status" not in results.columns:
        return results
    return results[results["status"].fillna("ok") == "ok"]


def _key(row: pd.Series) -> tuple:
    return tuple(row[c] for c in BLOCK)


def _k(v) -> float | None:
    return None if v is None or (isinstance(v, float) and np.isnan(v)) else v


def _diff(a: pd.Series, b: pd.Series, metric: str) -> np.ndarray:
    """Per-example ``a − b`` on the target test set (or the accuracy difference when bits are missing)."""
    ba, bb = bits(a.get("target_correct")), bits(b.get("target_correct"))
    if ba is not None and bb is not None and len(ba) == len(bb):
        return (ba - bb).astype(np.int8)
    return np.array([float(a[metric]) - float(b[metric])])


def pair_units(results: pd.DataFrame, a: str, b: str, metric: str = "target_acc") -> list[Unit]:
    """The paired units of ``a − b`` in ``results`` (one row per cell; ``target_correct`` bits when known)."""
    ok = _finished(results)
    ra, rb = ok[ok["method"] == a], ok[ok["method"] == b]
    if ra.empty or rb.empty:
        return []
    b_by = {}
    for _, r in rb.iterrows():
        b_by.setdefault(_key(r), {})[_k(r["k"])] = r
    units: list[Unit] = []
    for _, r in ra.iterrows():
        there = b_by.get(_key(r), {})
        k = _k(r["k"])
        if k is not None:  # same k, or b's one cell without a budget
            pairs = [(k, there[k] if k in there else there.get(None))]
        else:  # a without a budget: b's cell without one, else one unit per k of b
            pairs = [(None, there[None])] if None in there else list(there.items())
        for kk, other in pairs:
            if other is not None:
                units.append(Unit(_key(r), kk, str(r["target"]), _diff(r, other, metric)))
    return units


def forgetting_units(results: pd.DataFrame, method: str) -> list[Unit]:
    """Per-example forgetting (``correct before − after`` on the proxy test set) of ``method``'s cells."""
    ok = _finished(results)
    ok = ok[ok["method"] == method]
    units = []
    for _, r in ok.iterrows():
        before, after = bits(r.get("proxy_correct_before")), bits(r.get("proxy_correct"))
        if before is not None and after is not None and len(before) == len(after):
            d = (before - after).astype(np.int8)
        else:
            d = np.array([float(r["proxy_acc_before"]) - float(r["proxy_acc_after"])])
        units.append(Unit(_key(r), _k(r["k"]), f"proxy:{r['proxy']}", d))
    return units


def _one_level(units: list[Unit]) -> list[Unit]:
    """Where some units lack per-example bits (cells made before they were kept), every unit falls back to
    its mean difference, so that the comparison is made on blocks alone rather than refused."""
    if any(len(u.d) == 1 for u in units) and any(len(u.d) > 1 for u in units):
        return [Unit(u.block, u.k, u.language, np.array([float(u.d.mean())])) for u in units]
    return units


def _levels(units: list[Unit]) -> str:
    return "blocks + examples" if all(len(u.d) > 1 for u in units) else "blocks"


def _rows(units: list[Unit], base: dict, n_boot: int, ci: float, seed: int) -> list[dict]:
    """One row per k (when the units have several) and one pooled row."""
    out = []
    ks = sorted({u.k for u in units if u.k is not None})
    for k in ks:
        out.append({**base, "k": k, **bootstrap_mean([u for u in units if u.k == k], n_boot=n_boot, ci=ci,
                                                     seed=seed)})
    out.append({**base, "k": "pooled" if ks else "—", **bootstrap_mean(units, n_boot=n_boot, ci=ci, seed=seed)})
    return out


def _verdict(lo: float, hi: float, a: str, b: str) -> str:
    if lo > 0:
        return f"{a} better"
    if hi < 0:
        return f"{b} better"
    return "not separable from 0"


def paired_differences(results: pd.DataFrame, comparisons: Sequence[tuple[str, str]] = DEFAULT_COMPARISONS, *,
                       metric: str = "target_acc", n_boot: int = 4000, ci: float = 0.95,
                       seed: int = 0) -> pd.DataFrame:
    """Target-accuracy differences ``a − b`` per k and pooled, with two-level bootstrap intervals.

    ``results``: one row per cell with the grid coordinates, ``metric`` and (for the example level) the
    ``target_correct`` bit string. Comparisons whose methods share no finished block are left out.

    Returns columns ``comparison, a, b, k, delta, ci_lo, ci_hi, p_boot, n_blocks, n_units, n_examples,
    levels, verdict`` (``levels``: "blocks + examples", or "blocks" without per-example bits).
    """
    rows: list[dict] = []
    for a, b in comparisons:
        units = _one_level(pair_units(results, a, b, metric))
        if not units:
            continue
        rows += _rows(units, {"comparison": f"{a} − {b}", "a": a, "b": b, "levels": _levels(units)}, n_boot, ci,
                      seed)
    df = pd.DataFrame(rows)
    if not df.empty:
        df["verdict"] = [_verdict(r.ci_lo, r.ci_hi, r.a, r.b) for r in df.itertuples()]
    return df


def forgetting_by_method(results: pd.DataFrame, methods: Sequence[str] | None = None, *, n_boot: int = 4000,
                         ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Forgetting (proxy accuracy before − after) per method, per k and pooled, with bootstrap intervals.

    Before is θ1 (or the base model for ``direct``) on the proxy test set; the example level redraws those
    proxy sentences (``proxy_correct_before`` / ``proxy_correct`` bits), the block level the cells.
    """
    methods = list(methods) if methods is not None else list(dict.fromkeys(results["method"]))
    rows: list[dict] = []
    for m in methods:
        units = _one_level(forgetting_units(results, m))
        if not units:
            continue
        rows += _rows(units, {"method": m, "levels": _levels(units)}, n_boot, ci, seed)
    return pd.DataFrame(rows)


__all__ = ["BLOCK", "DEFAULT_COMPARISONS", "Unit", "bits", "bootstrap_mean", "forgetting_by_method",
           "forgetting_units", "pair_units", "paired_differences"]
