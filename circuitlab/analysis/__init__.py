"""Analysis: pure functions on head-score and tuning-result tables.

- :mod:`~circuitlab.analysis.overlap`: do two rankings pick the same heads?
- :mod:`~circuitlab.analysis.align`: the same question across models, by relative depth.
- :mod:`~circuitlab.analysis.difficulty`: how hard is a transfer (gap, lexicon, CKA)?
- :mod:`~circuitlab.analysis.languages`: every pairwise comparison of circuits across languages.
- :mod:`~circuitlab.analysis.representations`: mean residual streams and per-layer CKA over parallel text.
- :mod:`~circuitlab.analysis.transfer`: the difficulty measures of proxy → target pairs in one call.
- :mod:`~circuitlab.analysis.tradeoff`: editing vs preserving, forgetting vs gain.
- :mod:`~circuitlab.analysis.paired`: paired method differences and forgetting, two-level bootstrap.
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
from circuitlab.analysis.languages import LanguageComparison, as_frame, compare_languages, split_by
from circuitlab.analysis.overlap import jaccard, overlap_curve, overlap_matrix, spearman, spearman_matrix, top_k_heads
from circuitlab.analysis.paired import bootstrap_mean, forgetting_by_method, paired_differences
from circuitlab.analysis.representations import cka_by_layer, mean_residuals, representation_similarity
from circuitlab.analysis.stability import bootstrap_topk_frequency
from circuitlab.analysis.stats import average_ranks, percentile_interval, spearman_rho, t_ppf
from circuitlab.analysis.tradeoff import (
    RankCorrelation,
    editing_vs_preserving,
    forgetting_vs_gain,
    rank_correlation_with_ci,
)
from circuitlab.analysis.transfer import (
    DIFFICULTY_MEASURES,
    TransferDifficulty,
    theta1_accuracies,
    theta1_cells,
    transfer_difficulty,
    zero_shot_accuracies,
)

__all__ = [
    "DIFFICULTY_MEASURES",
    "LanguageComparison",
    "LexicalDistance",
    "ModelComparison",
    "RankCorrelation",
    "TransferDifficulty",
    "aggregate_seeds",
    "align_by_depth",
    "as_frame",
    "average_ranks",
    "bootstrap_mean",
    "bootstrap_topk_frequency",
    "cka_by_layer",
    "compare_languages",
    "compare_models",
    "depth_bin",
    "forgetting_by_method",
    "editing_vs_preserving",
    "forgetting_vs_gain",
    "jaccard",
    "levenshtein",
    "lexical_distance",
    "linear_cka",
    "mean_residuals",
    "normalised_levenshtein",
    "overlap_curve",
    "overlap_matrix",
    "paired_differences",
    "percentile_interval",
    "rank_correlation_with_ci",
    "representation_similarity",
    "spearman",
    "spearman_matrix",
    "spearman_rho",
    "split_by",
    "t_ppf",
    "theta1_accuracies",
    "theta1_cells",
    "top_k_heads",
    "transfer_difficulty",
    "zero_shot_accuracies",
    "zero_shot_gap",
]
