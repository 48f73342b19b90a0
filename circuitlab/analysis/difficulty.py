"""Measures of how hard a proxy → target transfer is.

"Hard" has no published definition in the CT-SFT paper, so several candidates
are offered, each cheap and explicit:

- **zero-shot gap**: the proxy checkpoint's accuracy on the proxy language minus
  its accuracy on the target before any target tuning (bigger = harder);
- **lexical distance** from a bilingual lexicon (NusaX-Lexicon): the share of
  entries whose forms differ, and the mean Levenshtein distance normalised by
  the longer form (0 = identical, 1 = nothing in common);
- **linear CKA** between the model's representations of parallel sentences in
  the two languages (1 = same geometry up to rotation and scale).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from jaxtyping import Float

from circuitlab.analysis._tables import require_columns


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions, each cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def normalised_levenshtein(a: str, b: str) -> float:
    """:func:`levenshtein` divided by the longer length (two empty strings: 0)."""
    longest = max(len(a), len(b))
    return levenshtein(a, b) / longest if longest else 0.0


@dataclass(frozen=True)
class LexicalDistance:
    """Summary of a lexicon's source/target forms.

    Attributes:
        share_different: fraction of entries whose (normalised) forms differ.
        mean_normalised_levenshtein: mean edit distance / longer length.
        n_entries: entries compared (rows with both forms present).
        n_dropped: rows skipped because a form was missing.
    """

    share_different: float
    mean_normalised_levenshtein: float
    n_entries: int
    n_dropped: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def lexical_distance(
    lexicon_df: pd.DataFrame, src_col: str, tgt_col: str, casefold: bool = True, strip: bool = True
) -> LexicalDistance:
    """Compare every lexicon entry's source and target form.

    Forms are stripped of surrounding whitespace and case-folded by default (the
    NusaX lexicon has stray trailing spaces). Every row counts once, so a word with
    several translations weighs more; deduplicate first if that is not wanted.
    """
    require_columns(lexicon_df, [src_col, tgt_col], "lexicon")
    pairs = lexicon_df[[src_col, tgt_col]].dropna()
    n_dropped = len(lexicon_df) - len(pairs)
    if pairs.empty:
        raise ValueError(f"The lexicon has no row with both {src_col!r} and {tgt_col!r} present.")

    def clean(text: object) -> str:
        s = str(text)
        s = s.strip() if strip else s
        return s.casefold() if casefold else s

    src = [clean(x) for x in pairs[src_col]]
    tgt = [clean(x) for x in pairs[tgt_col]]
    distances = [normalised_levenshtein(a, b) for a, b in zip(src, tgt)]
    return LexicalDistance(
        share_different=float(np.mean([a != b for a, b in zip(src, tgt)])),
        mean_normalised_levenshtein=float(np.mean(distances)),
        n_entries=len(pairs),
        n_dropped=n_dropped,
    )


Matrix = Float[torch.Tensor, "n d"] | Float[np.ndarray, "n d"]


def linear_cka(X: Matrix, Y: Matrix) -> float:
    """Linear centred kernel alignment of two representations of the same n items.

    ``X`` is ``[n, d1]``, ``Y`` is ``[n, d2]`` (torch or numpy). After centring the
    columns, ``CKA = ||Yᵀ X||_F² / (||Xᵀ X||_F · ||Yᵀ Y||_F)``, in [0, 1] and
    invariant to rotations and isotropic scaling of either side. Computed in
    float64; NaN when either side is constant.
    """
    x = torch.as_tensor(X).detach().to("cpu", torch.float64)
    y = torch.as_tensor(Y).detach().to("cpu", torch.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"linear_cka needs X [n, d1] and Y [n, d2] with the same n (rows = the same items), "
            f"got {tuple(x.shape)} and {tuple(y.shape)}."
        )
    if x.shape[0] < 2:
        raise ValueError(f"linear_cka needs at least 2 items, got {x.shape[0]}.")
    x = x - x.mean(dim=0, keepdim=True)
    y = y - y.mean(dim=0, keepdim=True)
    denom = torch.linalg.matrix_norm(x.T @ x) * torch.linalg.matrix_norm(y.T @ y)
    if float(denom) == 0.0:
        return float("nan")
    return float(torch.linalg.matrix_norm(y.T @ x) ** 2 / denom)


Accuracy = float | np.ndarray | pd.Series


def zero_shot_gap(acc_proxy: Accuracy, acc_target: Accuracy) -> Accuracy:
    """Proxy accuracy minus target accuracy of the same checkpoint, before target tuning.

    Positive = the target is harder than the proxy. Works elementwise on arrays/Series.
    """
    return acc_proxy - acc_target
