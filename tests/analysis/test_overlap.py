import math

import pandas as pd
import pytest

from circuitlab.analysis import jaccard, overlap_curve, overlap_matrix, spearman, spearman_matrix, top_k_heads
from circuitlab.heads import Head, HeadSet


def test_top_k_heads(table_a):
    assert top_k_heads(table_a, 2) == HeadSet.of([(1, 0), (0, 0)])
    assert top_k_heads(table_a, 3) == HeadSet.of([(1, 0), (0, 0), (0, 2)])
    assert len(top_k_heads(table_a, 0)) == 0


def test_top_k_ties_prefer_lower_layer_then_head(make_scores):
    df = make_scores([[1.0, 2.0], [2.0, 2.0]])
    assert top_k_heads(df, 2) == HeadSet.of([(0, 1), (1, 0)])


def test_top_k_rejects_bad_k_and_duplicate_heads(table_a):
    with pytest.raises(ValueError, match="0..6"):
        top_k_heads(table_a, 7)
    with pytest.raises(ValueError, match="more than once"):
        top_k_heads(pd.concat([table_a, table_a]), 2)
    with pytest.raises(ValueError, match="score"):
        top_k_heads(table_a.drop(columns="score"), 2)


def test_jaccard():
    a, b = HeadSet.of([(0, 0), (0, 1), (1, 0)]), HeadSet.of([(0, 0), (1, 0), (1, 1)])
    assert jaccard(a, b) == pytest.approx(2 / 4)
    assert jaccard(a, a) == 1.0
    assert jaccard(a, HeadSet.of([(2, 2)])) == 0.0
    assert jaccard(HeadSet(), HeadSet()) == 1.0


def test_spearman_hand_value(table_a, table_b):
    # ranks a [5,2,4,6,3,1], b [5,4,2,6,3,1]: sum d^2 = 8 -> 1 - 6*8 / (6*35) = 27/35
    assert spearman(table_a, table_b) == pytest.approx(27 / 35)
    assert spearman(table_a, table_a) == pytest.approx(1.0)


def test_spearman_uses_shared_heads_only(table_a, table_b):
    partial = table_b[table_b["layer"] == 0]
    # shared heads (0,0),(0,1),(0,2): a .5,-.2,.1 ; b .4,.3,-.1 -> ranks [3,1,2] vs [3,2,1] -> rho 0.5
    assert spearman(table_a, partial) == pytest.approx(0.5)


def test_overlap_curve_values_and_chance(table_a, table_b):
    curve = overlap_curve(table_a, table_b, ks=[2, 3, 6], n_perm=20000, seed=3)
    assert list(curve.columns) == ["k", "jaccard", "chance_mean", "chance_lo", "chance_hi", "p_value"]
    assert curve["jaccard"].tolist() == pytest.approx([1.0, 0.5, 1.0])
    # k=3 on 6 heads: |A∩B| ~ Hypergeom(6,3,3) with P = 1,9,9,1 / 20 -> E[J] = 9/20*1/5 + 9/20*1/2 + 1/20 = 0.365
    k3 = curve.set_index("k").loc[3]
    assert k3["chance_mean"] == pytest.approx(0.365, abs=0.01)
    assert (k3["chance_lo"], k3["chance_hi"]) == (0.0, 1.0)
    assert k3["p_value"] == pytest.approx(0.5, abs=0.02)  # P(J >= 1/2) = 10/20
    # k=2: P(J=1) = 1/C(6,2) = 1/15
    assert curve.set_index("k").loc[2, "p_value"] == pytest.approx(1 / 15, abs=0.01)
    # k = grid size: every random set is the whole grid
    k6 = curve.set_index("k").loc[6]
    assert (k6["chance_mean"], k6["chance_lo"], k6["chance_hi"]) == (1.0, 1.0, 1.0)
    assert curve.attrs["grid_size"] == 6 and curve.attrs["n_perm"] == 20000


def test_overlap_curve_is_seeded(table_a, table_b):
    one = overlap_curve(table_a, table_b, ks=[1, 2, 3], n_perm=200, seed=7)
    two = overlap_curve(table_a, table_b, ks=[1, 2, 3], n_perm=200, seed=7)
    pd.testing.assert_frame_equal(one, two)


def test_overlap_curve_rejects_different_grids(table_a, table_b):
    with pytest.raises(ValueError, match="different heads"):
        overlap_curve(table_a, table_b[table_b["layer"] == 0], ks=[1])
    with pytest.raises(ValueError, match="1..6"):
        overlap_curve(table_a, table_b, ks=[0])


def test_overlap_and_spearman_matrices(table_a, table_b):
    tables = {"ind": table_a, "jav": table_b, "copy": table_a}
    jac = overlap_matrix(tables, k=3)
    assert list(jac.index) == list(jac.columns) == ["ind", "jav", "copy"]
    assert jac.to_numpy().tolist() == [[1.0, 0.5, 1.0], [0.5, 1.0, 0.5], [1.0, 0.5, 1.0]]
    assert jac.attrs == {"measure": "jaccard", "k": 3}
    rho = spearman_matrix(tables)
    assert rho.loc["ind", "jav"] == pytest.approx(27 / 35)
    assert rho.loc["jav", "jav"] == pytest.approx(1.0)
    assert rho.attrs["measure"] == "spearman"
    assert not math.isnan(rho.to_numpy().sum())


def test_head_value_objects_are_used(table_a):
    assert Head(1, 0) in top_k_heads(table_a, 1)
