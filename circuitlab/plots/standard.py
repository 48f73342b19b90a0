"""The standard figure set, from saved tables: what ``circuitlab plot`` draws.

Context: after discovery and tuning, a researcher holds three kinds of tables
on disk: head scores (one row per head, with ``model, method, language`` and
perhaps ``seed``), tuning results (one row per run) and transfer difficulty (one
row per target). :func:`standard_figures` turns whatever of them it is given
into every figure the package knows how to draw, and says which it skipped and
why; :func:`save_figures` writes them with an ``index.html`` and a
``figures.json`` manifest recording what each figure was made from.

The work is split by input: :mod:`~circuitlab.plots.standard_scores` (head scores),
:mod:`~circuitlab.plots.standard_results` (tuning results and difficulty) and
:mod:`~circuitlab.plots.figure_set` (the container and how it is saved); this module
ties them together and keeps the old import path.

Score tables are grouped by ``model, method, language`` (those present). A
group that holds several rows per head (several seeds, say) is averaged over
them, and the figure's record says so.

Figures, by name:

- ``heatmap__<model>__<method>__<language>``: layer × head scores, top-k outlined (when one head's
  |score| is over 10 times the 90th percentile, the colour range is clipped and the figure says so);
- ``overlap_matrix__<model>__<method>`` and ``spearman_matrix__…``: every language
  pair (two or more languages of one model and method);
- ``overlap_curves__<model>__<method>``: top-k Jaccard against k of every language
  with the reference language, over the chance band;
- ``difference__<model>__<method>__<ref>_vs_<language>``: score differences;
- ``models__<method>__<language>__<a>_vs_<b>``: two models aligned by relative depth;
- ``tradeoff__<measure>[__<setting>]``: Δ(editing − preserving) per target against
  each difficulty measure (results plus difficulty, or ``target_acc_before`` in the results);
- ``forgetting_vs_gain[__<setting>]`` and ``accuracy_vs_shots``: from the results;
- ``cka_by_layer``: representation similarity of each target to the proxy, per layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from circuitlab.analysis._tables import require_columns
from circuitlab.errors import UserError
from circuitlab.plots.figure_set import StandardFigures, save_figures, slug  # noqa: F401  (old import path)
from circuitlab.plots.representations import cka_plot
from circuitlab.plots.standard_results import SETTING_KEYS, _results_figures  # noqa: F401
from circuitlab.plots.standard_scores import GROUP_KEYS, _score_figures  # noqa: F401
from circuitlab.synthetic import label_fake, n_fake_rows


def standard_figures(
    scores: pd.DataFrame | None = None,
    results: pd.DataFrame | None = None,
    difficulty: pd.DataFrame | None = None,
    cka: pd.DataFrame | None = None,
    *,
    k: int = 6,
    reference: str | None = "indonesian",
    n_perm: int = 1000,
    n_bins: int | None = None,
    k_bins: int = 3,
    measures: Sequence[str] | None = None,
    editing: str = "circuit",
    preserving: str = "nearzero",
    n_boot: int = 2000,
    seed: int = 0,
) -> StandardFigures:
    """Every standard figure that ``scores``, ``results`` and ``difficulty`` allow (see the module docstring).

    Args:
        scores: head-score tables stacked (``layer, head, score`` and ``model, method, language``).
        results: tuning results (``target, method, seed, target_acc`` …, as in
            :func:`~circuitlab.analysis.editing_vs_preserving`).
        difficulty: one row per ``target`` with difficulty columns (``TransferDifficulty.table``).
        cka: per-layer CKA of each target to the proxy (``TransferDifficulty.cka``).
        k: heads outlined in heatmaps and compared by Jaccard.
        reference: the language the overlap curves and differences are drawn against when present.
        n_perm: permutations of the chance baseline.
        n_bins, k_bins: relative-depth bins (default: the smaller model's layer count) and top bins compared.
        measures: the difficulty columns to plot (default: every known measure present).
        editing, preserving: the two methods whose difference Δ the trade-off plots.
        n_boot, seed: bootstrap of the rank correlation; seed of every random step.

    Figures drawn from a table holding rows of the fake test backend (``backend == "fake"``)
    get ``FAKE BACKEND`` in their title and ``fake_rows`` in their note.
    """
    out = StandardFigures()
    if scores is None and results is None and cka is None:
        raise UserError("Nothing to plot: give head-score tables, tuning results, or a CKA table.")
    if scores is not None:
        drawn = len(out.figures)
        _score_figures(out, scores, k, reference, n_perm, seed, n_bins, k_bins)
        _label_fake_since(out, drawn, n_fake_rows(scores))
    if results is not None:
        drawn, n_fake = len(out.figures), n_fake_rows(results) + n_fake_rows(difficulty)
        if "status" in results.columns:  # failed/diverged runs carry no metrics worth drawing
            failed = int((results["status"] != "ok").sum())
            results = results[results["status"] == "ok"]
            if failed:
                out.skipped["failed runs"] = f"{failed} result row(s) with status != 'ok' left out"
        _results_figures(out, results, difficulty, measures, editing, preserving, n_boot, seed)
        _label_fake_since(out, drawn, n_fake)
    elif difficulty is not None:
        out.skipped["tradeoff"] = "a difficulty table without tuning results"
    if cka is not None:
        require_columns(cka, ["layer", "cka"], "CKA table")
        drawn = len(out.figures)
        out.add("cka_by_layer", cka_plot(cka), kind="cka",
                targets=sorted(map(str, cka["target"].unique())) if "target" in cka.columns else None)
        _label_fake_since(out, drawn, n_fake_rows(cka))
    return out


def _label_fake_since(out: StandardFigures, start: int, n_fake: int) -> None:
    """Title the figures from the ``start``-th on ``FAKE BACKEND`` when their table held ``n_fake`` > 0 fake rows."""
    if not n_fake:
        return
    for name in list(out.figures)[start:]:
        out.notes[name].update(title=label_fake(out.figures[name]).layout.title.text, fake_rows=n_fake)


__all__ = ["StandardFigures", "save_figures", "slug", "standard_figures"]
