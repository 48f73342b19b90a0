"""Paired differences and forgetting with the two-level bootstrap, on tables whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from circuitlab.analysis.paired import Unit, bootstrap_mean, forgetting_by_method, pair_units, paired_differences
from circuitlab.errors import UserError

N = 400


def _bits(a: np.ndarray) -> str:
    return "".join("1" if x else "0" for x in a)


def _table(rng, methods: dict[str, float], targets=("javanese", "sundanese"), seeds=(31, 777, 2025), ks=(1, 4),
           shared: float = 0.0) -> pd.DataFrame:
    """Cells whose per-example correctness is Bernoulli(p_method); ``shared`` of the examples are decided by the
    example alone (the same answer for every method: what pairing cancels)."""
    rows = []
    for t in targets:
        easy = rng.random(N) < 0.5
        fixed = rng.random(N) < shared
        for s in seeds:
            for m, p in methods.items():
                for k in (ks if m not in ("full", "lora") else (None,)):
                    own = rng.random(N) < p
                    correct = np.where(fixed, easy, own)
                    before = rng.random(N) < 0.8
                    after = before & (rng.random(N) > 0.05)  # 5 % of the right answers are lost
                    rows.append(dict(proxy="indonesian", target=t, shots=100, seed=s, method=m,
                                     k=np.nan if k is None else k, status="ok", target_acc=correct.mean(),
                                     target_correct=_bits(correct), proxy_acc_before=before.mean(),
                                     proxy_acc_after=after.mean(), proxy_correct_before=_bits(before),
                                     proxy_correct=_bits(after)))
    return pd.DataFrame(rows)


def test_estimate_is_the_mean_accuracy_difference_and_a_real_gap_is_found():
    df = _table(np.random.default_rng(0), {"circuit": 0.75, "random": 0.60, "full": 0.74})
    out = paired_differences(df, [("circuit", "random"), ("circuit", "full")], n_boot=2000)
    pooled = out[(out["comparison"] == "circuit − random") & (out["k"] == "pooled")].iloc[0]
    a = df[df.method == "circuit"].target_acc.mean()
    b = df[df.method == "random"].target_acc.mean()
    assert pooled["delta"] == pytest.approx(a - b)
    assert pooled["ci_lo"] > 0.1 and pooled["verdict"] == "circuit better"
    assert pooled["n_blocks"] == 6 and pooled["n_units"] == 12 and pooled["n_examples"] == N
    assert pooled["levels"] == "blocks + examples"
    assert set(out["k"]) == {1, 4, "pooled"}
    # full has no k: paired with every k of circuit, per k and pooled
    full = out[out["comparison"] == "circuit − full"]
    assert len(full) == 3 and (full["n_units"].iloc[:2] == 6).all()


def _favouring(rng, seeds=5) -> pd.DataFrame:
    """A null with example effects: 30 % of the sentences favour circuit, 30 % random, the rest neither, so the
    mean difference over sentences is 0 but a finite test set leans one way (the same way in every seed)."""
    kind = rng.choice([1, -1, 0], size=N, p=[0.3, 0.3, 0.4])
    p_a = np.where(kind == 1, 0.9, np.where(kind == -1, 0.1, 0.7))
    p_b = np.where(kind == -1, 0.9, np.where(kind == 1, 0.1, 0.7))
    rows = []
    for s in range(seeds):
        for m, p in (("circuit", p_a), ("random", p_b)):
            c = rng.random(N) < p
            rows.append(dict(proxy="indonesian", target="javanese", shots=100, seed=s, method=m, k=4, status="ok",
                             target_acc=c.mean(), target_correct=_bits(c)))
    return pd.DataFrame(rows)


def test_intervals_cover_a_null_difference_that_the_test_set_leans_on():
    """Redrawing seeds alone cannot see that the test set itself is a sample: its intervals miss 0 far too
    often; redrawing the test examples too (crossed, as Owen's pigeonhole bootstrap) holds the level."""
    rng = np.random.default_rng(1)
    both = blocks_only = 0
    reps = 60
    for rep in range(reps):
        df = _favouring(rng)
        row = paired_differences(df, [("circuit", "random")], n_boot=400, ci=0.9, seed=rep).iloc[-1]
        both += row["ci_lo"] <= 0 <= row["ci_hi"]
        row = paired_differences(df.drop(columns="target_correct"), [("circuit", "random")], n_boot=400, ci=0.9,
                                 seed=rep).iloc[-1]
        blocks_only += row["ci_lo"] <= 0 <= row["ci_hi"]
    assert both / reps >= 0.8
    assert blocks_only / reps <= 0.6


def test_pure_noise_intervals_are_conservative_but_not_wildly_so():
    """Without example or block effects the crossed bootstrap counts the noise more than once (Owen 2007):
    its intervals are wider than the exact one, by less than a factor of two."""
    rng = np.random.default_rng(5)
    df = _table(rng, {"circuit": 0.7, "random": 0.7}, targets=("javanese",), seeds=tuple(range(6)), ks=(4,))
    row = paired_differences(df, [("circuit", "random")], n_boot=4000, ci=0.9).iloc[-1]
    exact = 2 * 1.645 * np.sqrt(2 * 0.7 * 0.3 / (N * 6))  # sd of the mean of 6 independent paired differences
    assert exact < row["ci_hi"] - row["ci_lo"] < 2 * exact


def test_pairing_narrows_the_interval_when_examples_decide_most_answers():
    rng = np.random.default_rng(2)
    df = _table(rng, {"circuit": 0.72, "random": 0.70}, shared=0.8)
    paired = paired_differences(df, [("circuit", "random")], n_boot=1000).iloc[-1]
    # the same accuracies without bits: each block's difference is all there is
    blocks = paired_differences(df.drop(columns=["target_correct"]), [("circuit", "random")], n_boot=1000).iloc[-1]
    assert blocks["levels"] == "blocks" and blocks["delta"] == pytest.approx(paired["delta"])
    unpaired_sd = np.sqrt(2 * 0.7 * 0.3 / N)  # what independent test sets would give per cell
    assert (paired["ci_hi"] - paired["ci_lo"]) < 4 * unpaired_sd


def test_forgetting_per_method_recovers_the_lost_share():
    df = _table(np.random.default_rng(3), {"circuit": 0.7, "full": 0.7})
    out = forgetting_by_method(df, n_boot=1000)
    pooled = out[(out["method"] == "circuit") & (out["k"] == "pooled")].iloc[0]
    assert pooled["delta"] == pytest.approx(0.8 * 0.05, abs=0.01)
    assert pooled["ci_lo"] > 0 and pooled["levels"] == "blocks + examples"
    assert out[out["method"] == "full"]["k"].tolist() == ["—"]


def test_units_only_pair_cells_of_the_same_block():
    df = _table(np.random.default_rng(4), {"circuit": 0.7, "random": 0.7}, seeds=(31, 777))
    df = df[~((df.method == "random") & (df.seed == 777))]  # a partial run: seed 777 has no random cells yet
    units = pair_units(df, "circuit", "random")
    assert {u.block[3] for u in units} == {31} and len(units) == 4
    assert pair_units(df, "circuit", "lora") == []
    assert paired_differences(df, [("circuit", "lora")]).empty


def test_bad_input_says_what_is_wrong():
    with pytest.raises(UserError, match="share no finished block"):
        bootstrap_mean([])
    units = [Unit(("a",), 1, "javanese", np.zeros(4)), Unit(("b",), 1, "javanese", np.zeros(5))]
    with pytest.raises(UserError, match="same test examples"):
        bootstrap_mean(units)


def test_cells_without_bits_fall_back_to_blocks_instead_of_failing():
    df = _table(np.random.default_rng(6), {"circuit": 0.7, "random": 0.6})
    mixed = df.copy().astype({"target_correct": object})
    mixed.loc[mixed.index[0], "target_correct"] = np.nan  # one cell made before the bits were kept
    row = paired_differences(mixed, [("circuit", "random")], n_boot=500).iloc[-1]
    assert row["levels"] == "blocks" and row["n_examples"] == 1
    assert row["delta"] == pytest.approx(paired_differences(df, [("circuit", "random")], n_boot=500).iloc[-1]["delta"])
