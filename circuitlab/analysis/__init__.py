"""Analysis: pure functions on head-score and tuning-result tables.

- :mod:`~circuitlab.analysis.overlap`: do two rankings pick the same heads?
- :mod:`~circuitlab.analysis.align`: the same question across models, by relative depth.
- :mod:`~circuitlab.analysis.difficulty`: how hard is a transfer (gap, lexicon, CKA)?
- :mod:`~circuitlab.analysis.tradeoff`: editing vs preserving, forgetting vs gain.
- :mod:`~circuitlab.analysis.stability`: bootstrap frequency of top-k membership.
- :mod:`~circuitlab.analysis.aggregate`: mean ± std over seeds.
- :mod:`~circuitlab.analysis.stats`: ranks, Spearman, t quantiles (no SciPy needed).
"""

from circuitlab.analysis.aggregate import aggregate_seeds
from circuitlab.analysis.align import ModelComparison, align_by_depth, compare_models, depth_bin
from circuitlab.analysis.difficulty import (
    LexicalDistance,
    levenshtein,
    lexical_distance,
    linear_cka,
    normalised_levenshtein,
    zero_shot_gap,
)
from circuitlab.analysis.overlap import jaccard, overlap_curve, overlap_matrix, spearman, spearman_matrix, top_k_heads
from circuitlab.analysis.stability import bootstrap_topk_frequency
from circuitlab.analysis.stats import average_ranks, percentile_interval, spearman_rho, t_ppf
from circuitlab.analysis.tradeoff import (
    RankCorrelation,
    editing_vs_preserving,
    forgetting_vs_gain,
    rank_correlation_with_ci,
)

__all__ = [
    "LexicalDistance",
    "ModelComparison",
    "RankCorrelation",
    "aggregate_seeds",
    "align_by_depth",
    "average_ranks",
    "bootstrap_topk_frequency",
    "compare_models",
    "depth_bin",
    "editing_vs_preserving",
    "forgetting_vs_gain",
    "jaccard",
    "levenshtein",
    "lexical_distance",
    "linear_cka",
    "normalised_levenshtein",
    "overlap_curve",
    "overlap_matrix",
    "percentile_interval",
    "rank_correlation_with_ci",
    "spearman",
    "spearman_matrix",
    "spearman_rho",
    "t_ppf",
    "top_k_heads",
    "zero_shot_gap",
]
