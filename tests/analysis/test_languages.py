import pandas as pd
import pytest

from circuitlab.analysis import compare_languages, split_by
from circuitlab.discovery import HeadScores


@pytest.fixture
def three(make_scores, table_a, table_b):
    # "min" is table_a reversed: its top-2 {(1,2), (0,1)} shares nothing with ind's top-2
    rev = make_scores([[-0.5, 0.2, -0.1], [-0.9, 0.0, 0.7]], language="min")
    return {"ind": table_a, "jav": table_b, "min": rev}


def test_pairs_hold_hand_computed_jaccard_and_spearman(three):
    cmp = compare_languages(three, k=3, n_perm=200, seed=1)
    assert cmp.languages == ["ind", "jav", "min"] and cmp.reference == "ind"
    pairs = cmp.pairs.set_index(["a", "b"])
    assert list(pairs.index) == [("ind", "jav"), ("ind", "min"), ("jav", "min")]
    # top-3: ind {(1,0),(0,0),(0,2)}, jav {(1,0),(0,0),(0,1)} -> 2/4
    assert pairs.loc[("ind", "jav"), "jaccard"] == pytest.approx(0.5)
    # ranks differ only at (0,1),(0,2) by 2 each: rho = 1 - 6*8/(6*35) = 27/35
    assert pairs.loc[("ind", "jav"), "spearman"] == pytest.approx(27 / 35)
    assert pairs.loc[("ind", "min"), "spearman"] == pytest.approx(-1.0)
    # min's top-3 {(1,2),(0,1),(1,1)} vs ind's: disjoint
    assert pairs.loc[("ind", "min"), "jaccard"] == 0.0
    assert (pairs["p_value"] > 0).all() and (pairs["chance_lo"] <= pairs["chance_hi"]).all()
    assert cmp.jaccard.loc["ind", "jav"] == pytest.approx(0.5) and cmp.jaccard.attrs["k"] == 3
    assert cmp.spearman.loc["jav", "ind"] == pytest.approx(27 / 35)


def test_curves_against_the_reference(three):
    cmp = compare_languages(three, k=2, reference="jav", n_perm=50)
    curves = cmp.curves
    assert sorted(curves["language"].unique()) == ["ind", "min"]
    assert curves.groupby("language")["k"].apply(list).to_dict() == {"ind": [1, 2, 3, 4, 5, 6], "min": [1, 2, 3, 4, 5, 6]}
    ind = curves[curves["language"] == "ind"].set_index("k")["jaccard"]
    assert ind.loc[1] == 1.0 and ind.loc[2] == 1.0 and ind.loc[3] == pytest.approx(0.5) and ind.loc[6] == 1.0
    assert curves.attrs["reference"] == "jav"


def test_stacked_table_and_headscores_give_the_same_answer(three):
    stacked = pd.concat(three.values(), ignore_index=True)
    assert list(split_by(stacked)) == ["ind", "jav", "min"]
    from_stack = compare_languages(stacked, k=2, n_perm=20)
    from_list = compare_languages([HeadScores(t) for t in three.values()], k=2, n_perm=20)
    from_map = compare_languages({n: HeadScores(t) for n, t in three.items()}, k=2, n_perm=20)
    pd.testing.assert_frame_equal(from_stack.pairs, from_list.pairs)
    pd.testing.assert_frame_equal(from_stack.pairs, from_map.pairs)


def test_errors_say_what_is_wrong(three, make_scores):
    with pytest.raises(ValueError, match="at least two"):
        compare_languages({"ind": three["ind"]}, k=2)
    with pytest.raises(ValueError, match="reference 'eng'"):
        compare_languages(three, k=2, reference="eng")
    other_grid = make_scores([[1.0, 2.0]], language="ban")
    with pytest.raises(ValueError, match="different heads"):
        compare_languages({"ind": three["ind"], "ban": other_grid}, k=1)
