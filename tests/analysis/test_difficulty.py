import math

import numpy as np
import pandas as pd
import pytest
import torch

from circuitlab.analysis import levenshtein, lexical_distance, linear_cka, normalised_levenshtein, zero_shot_gap


@pytest.mark.parametrize(
    "a, b, d", [("kitten", "sitting", 3), ("flaw", "lawn", 2), ("", "abc", 3), ("abc", "", 3), ("same", "same", 0),
                ("abu", "abee", 2)],
)
def test_levenshtein(a, b, d):
    assert levenshtein(a, b) == d
    assert levenshtein(b, a) == d


def test_normalised_levenshtein():
    assert normalised_levenshtein("kitten", "sitting") == pytest.approx(3 / 7)
    assert normalised_levenshtein("", "") == 0.0
    assert normalised_levenshtein("abc", "xyz") == 1.0


def lexicon() -> pd.DataFrame:
    return pd.DataFrame(
        {"indonesian": ["abu", "abc", "rumah", "Air", None], "javanese": ["abee", "xyz", "rumah ", "air", "x"]}
    )


def test_lexical_distance_hand_values():
    res = lexical_distance(lexicon(), "indonesian", "javanese")
    # abu/abee 2/4, abc/xyz 1, rumah/rumah 0, air/air 0 (after strip + casefold)
    assert res.share_different == pytest.approx(2 / 4)
    assert res.mean_normalised_levenshtein == pytest.approx((0.5 + 1.0) / 4)
    assert (res.n_entries, res.n_dropped) == (4, 1)
    assert res.to_dict()["n_entries"] == 4


def test_lexical_distance_without_casefold():
    res = lexical_distance(lexicon(), "indonesian", "javanese", casefold=False)
    assert res.share_different == pytest.approx(3 / 4)
    assert res.mean_normalised_levenshtein == pytest.approx((0.5 + 1.0 + 1 / 3) / 4)


def test_lexical_distance_names_missing_column():
    with pytest.raises(ValueError, match="sundanese"):
        lexical_distance(lexicon(), "indonesian", "sundanese")


def test_linear_cka_hand_value():
    # 1-D: CKA is the squared Pearson correlation; Xc=[-1,0,1], Yc=[2/3,-1/3,-1/3]: 1 / (2 * 2/3) = 0.75
    assert linear_cka(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [0.0], [0.0]])) == pytest.approx(0.75)


def hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Independent reference: the Gram-matrix (HSIC) form of linear CKA."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l = h @ x @ x.T @ h, h @ y @ y.T @ h
    return float(np.trace(k @ l) / math.sqrt(np.trace(k @ k) * np.trace(l @ l)))


def test_linear_cka_matches_gram_form_and_invariances():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 5)), rng.normal(size=(20, 3))
    assert linear_cka(x, y) == pytest.approx(hsic_cka(x, y))
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    assert linear_cka(x, 3.0 * x @ q + 7.0) == pytest.approx(1.0)
    assert linear_cka(torch.tensor(x, dtype=torch.float32), torch.tensor(y)) == pytest.approx(linear_cka(x, y), abs=1e-6)


def test_linear_cka_edge_cases():
    assert math.isnan(linear_cka(np.ones((4, 2)), np.arange(8.0).reshape(4, 2)))
    with pytest.raises(ValueError, match="same n"):
        linear_cka(np.zeros((3, 2)), np.zeros((4, 2)))


def test_zero_shot_gap():
    assert zero_shot_gap(0.757, 0.471) == pytest.approx(0.286)
    gaps = zero_shot_gap(pd.Series([0.757, 0.757]), pd.Series([0.366, 0.581]))
    assert gaps.tolist() == pytest.approx([0.391, 0.176])
