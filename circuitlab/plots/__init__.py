"""Figures: every function takes the package's tables and returns a ``plotly.graph_objects.Figure``.

- :mod:`~circuitlab.plots.style`: colour-blind-safe palette, diverging scale, :func:`apply_style`.
- :mod:`~circuitlab.plots.heatmaps`: layer × head score grids, side by side, differences.
- :mod:`~circuitlab.plots.comparisons`: overlap against chance, pairwise matrices.
- :mod:`~circuitlab.plots.representations`: linear CKA per layer across languages.
- :mod:`~circuitlab.plots.paired`: forest plots of paired differences and forgetting with intervals.
- :mod:`~circuitlab.plots.tradeoff`: editing vs preserving, forgetting vs gain, accuracy vs shots.
- :mod:`~circuitlab.plots.standard`: the whole standard set from saved tables (``circuitlab plot``).
  (its parts: :mod:`~circuitlab.plots.standard_scores`, :mod:`~circuitlab.plots.standard_results`,
  :mod:`~circuitlab.plots.figure_set`).
- :mod:`~circuitlab.plots.export`: HTML (offline) plus PNG/SVG/PDF via Kaleido.
"""

from circuitlab.plots.comparisons import (
    model_alignment_plot,
    overlap_curve_plot,
    overlap_curves_plot,
    overlap_matrix_plot,
)
from circuitlab.plots.export import FigureExportError, save_figure
from circuitlab.plots.heatmaps import difference_heatmap, head_heatmap, side_by_side, stability_heatmap
from circuitlab.plots.paired import paired_forest
from circuitlab.plots.representations import cka_plot
from circuitlab.plots.standard import StandardFigures, save_figures, standard_figures
from circuitlab.plots.style import DIVERGING, METHOD_COLORS, OKABE_ITO, SEQUENTIAL, apply_style, color_map
from circuitlab.plots.tradeoff import accuracy_vs_shots, forgetting_vs_gain_scatter, tradeoff_scatter

__all__ = [
    "DIVERGING",
    "METHOD_COLORS",
    "OKABE_ITO",
    "SEQUENTIAL",
    "StandardFigures",
    "FigureExportError",
    "accuracy_vs_shots",
    "apply_style",
    "cka_plot",
    "color_map",
    "difference_heatmap",
    "forgetting_vs_gain_scatter",
    "head_heatmap",
    "paired_forest",
    "model_alignment_plot",
    "overlap_curve_plot",
    "overlap_curves_plot",
    "overlap_matrix_plot",
    "save_figure",
    "save_figures",
    "side_by_side",
    "stability_heatmap",
    "standard_figures",
    "tradeoff_scatter",
]
