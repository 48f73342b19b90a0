import math

import numpy as np
import pandas as pd
import pytest

from circuitlab.analysis import editing_vs_preserving, forgetting_vs_gain, rank_correlation_with_ci

T2 = 4.302652729911275  # t quantile 0.975 with 2 degrees of freedom


def results() -> pd.DataFrame:
    rows = []
    def add(target, method, seeds, accs):
        for s, a in zip(seeds, accs):
            rows.append(dict(proxy="ind", target=target, method=method, k=18, shots=100, seed=s, target_acc=a))
    add("ace", "circuit", [1, 2, 3], [0.50, 0.54, 0.52])
    add("ace", "nearzero", [1, 2, 3], [0.48, 0.50, 0.51])
    add("ace", "full", [1, 2, 3], [0.30, 0.30, 0.30])
    add("jav", "circuit", [1, 2], [0.60, 0.62])
    add("jav", "nearzero", [3, 4], [0.63, 0.65])
    add("bug", "circuit", [1, 2, 3, 4], [0.40, 0.42, 0.90, 0.90])
    add("bug", "nearzero", [1, 2], [0.39, 0.40])
    return pd.DataFrame(rows)


def difficulty() -> pd.DataFrame:
    return pd.DataFrame({"target": ["ace", "bug", "jav", "min"], "a0": [0.471, 0.366, 0.581, 0.554]})


def test_paired_delta_with_t_interval():
    out = editing_vs_preserving(results(), difficulty()).set_index("target")
    ace = out.loc["ace"]
    d = np.array([0.02, 0.04, 0.01])
    half = T2 * d.std(ddof=1) / math.sqrt(3)
    assert ace["delta"] == pytest.approx(0.07 / 3)
    assert (ace["ci_lo"], ace["ci_hi"]) == pytest.approx((0.07 / 3 - half, 0.07 / 3 + half))
    assert bool(ace["paired"]) and ace["n_pairs"] == 3
    assert ace["a0"] == pytest.approx(0.471)
    assert (ace["editing_mean"], ace["preserving_mean"]) == pytest.approx((0.52, 0.49666666))


def test_unpaired_falls_back_to_welch():
    jav = editing_vs_preserving(results(), difficulty()).set_index("target").loc["jav"]
    # means .61 vs .64; Welch: se = sqrt(.0001 + .0001), df = 2
    assert jav["delta"] == pytest.approx(-0.03)
    half = T2 * math.sqrt(0.0002)
    assert (jav["ci_lo"], jav["ci_hi"]) == pytest.approx((-0.03 - half, -0.03 + half))
    assert not bool(jav["paired"]) and (jav["n_editing"], jav["n_preserving"]) == (2, 2)


def test_pairs_only_shared_seeds():
    bug = editing_vs_preserving(results(), difficulty()).set_index("target").loc["bug"]
    assert bug["delta"] == pytest.approx(((0.40 - 0.39) + (0.42 - 0.40)) / 2)
    assert bug["n_pairs"] == 2 and bug["n_editing"] == 4


def test_bootstrap_interval_is_seeded_and_bounded():
    one = editing_vs_preserving(results(), difficulty(), ci_method="bootstrap", n_boot=500, seed=1)
    two = editing_vs_preserving(results(), difficulty(), ci_method="bootstrap", n_boot=500, seed=1)
    pd.testing.assert_frame_equal(one, two)
    ace = one.set_index("target").loc["ace"]
    assert 0.01 - 1e-12 <= ace["ci_lo"] <= ace["delta"] <= ace["ci_hi"] <= 0.04 + 1e-12
    assert one.attrs["ci_method"] == "bootstrap"


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="lora"):
        editing_vs_preserving(results(), difficulty(), editing="lora")
    doubled = pd.concat([results(), results().assign(shots=50)])
    with pytest.raises(ValueError, match="more than once"):
        editing_vs_preserving(doubled, difficulty())
    per_shot = editing_vs_preserving(doubled, difficulty(), by=["target", "shots"])
    assert len(per_shot) == 6


def test_rank_correlation_with_ci_hand_values():
    assert rank_correlation_with_ci([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]) == (1.0, 1.0, 1.0)
    rho, lo, hi = rank_correlation_with_ci([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], n_boot=300)
    assert (rho, lo, hi) == pytest.approx((-1.0, -1.0, -1.0))
    r = rank_correlation_with_ci([1, 2, 3, 4, 5, 6], [1, 3, 2, 5, 4, 6], n_boot=500, seed=2)
    assert r.rho == pytest.approx(1 - 6 * 4 / (6 * 35))
    assert r.lo <= r.rho <= r.hi <= 1.0
    assert r == rank_correlation_with_ci([1, 2, 3, 4, 5, 6], [1, 3, 2, 5, 4, 6], n_boot=500, seed=2)
    tiny = rank_correlation_with_ci([1, 2], [2, 1])
    assert tiny.rho == -1.0 and math.isnan(tiny.lo)


def test_forgetting_vs_gain_with_and_without_a0():
    df = pd.DataFrame({
        "method": ["circuit", "circuit", "full", "full"],
        "forgetting": [0.01, 0.03, 0.30, 0.40],
        "target_acc": [0.50, 0.60, 0.40, 0.50],
        "target_acc_before": [0.47, 0.47, 0.47, 0.47],
    })
    out = forgetting_vs_gain(df).set_index("method")
    assert out.loc["circuit", "gain_mean"] == pytest.approx(0.08)
    assert out.loc["circuit", "gain_std"] == pytest.approx(math.sqrt(0.005))
    assert out.loc["full", "forgetting_mean"] == pytest.approx(0.35)
    assert out.loc["full", "n"] == 2
    assert out.attrs["gain"] == "target_acc - target_acc_before"
    plain = forgetting_vs_gain(df.drop(columns="target_acc_before")).set_index("method")
    assert plain.loc["circuit", "gain_mean"] == pytest.approx(0.55)
