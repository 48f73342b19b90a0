"""Circuit growth by depth and the faithfulness check."""

from __future__ import annotations

import math

import pytest

from circuitlab.discovery import DiscoveryError, faithfulness, get_scorer, grow_circuit, label_balanced_mean
from circuitlab.evaluation import evaluate
from circuitlab.heads import HeadSet
from circuitlab.tasks import make_task


@pytest.fixture(scope="module")
def setup(tiny_qwen2, mixed_examples):
    task = make_task("nusax", tiny_qwen2.tokenizer)
    return tiny_qwen2, task, label_balanced_mean(tiny_qwen2, task, mixed_examples)


@pytest.mark.parametrize("method", ["directional", "attribution"])
def test_growth_adds_k_new_heads_per_depth_against_the_previous_depth(setup, mixed_examples, method):
    model, task, mean = setup
    res = grow_circuit(model, task, mixed_examples, scorer=method, depth=2, k=2, mean=mean)
    first = res.depths[0]
    assert first.target == "logits" and len(first.chosen) == 2
    assert first.chosen == get_scorer(method).score(model, task, mixed_examples, mean=mean).select(2)
    for prev, cur in zip(res.depths, res.depths[1:]):
        assert cur.target == "heads:" + ",".join(map(str, prev.chosen))
        assert not (cur.chosen & prev.circuit)  # only new heads
        assert cur.circuit == prev.circuit | cur.chosen
        assert all(h.layer < max(t.layer for t in prev.chosen) for h in cur.chosen)  # they can reach the targets
    assert len(res.circuit()) == sum(len(d.chosen) for d in res.depths)
    assert set(res.table()["depth"]) == set(range(len(res.depths)))
    assert res.to_dict()["depths"][0]["chosen"] == first.chosen.to_list()


def test_growth_share_and_errors(setup, mixed_examples):
    model, task, mean = setup
    res = grow_circuit(model, task, mixed_examples, depth=0, k=0.25, mean=mean)
    assert res.per_depth == 3 and len(res.circuit()) == 3
    with pytest.raises(ValueError, match="larger than the 12 heads"):
        grow_circuit(model, task, mixed_examples, depth=1, k=13, mean=mean)
    with pytest.raises(DiscoveryError, match="depth must be >= 0"):
        grow_circuit(model, task, mixed_examples, depth=-1, mean=mean)


def test_faithfulness_ends_of_the_scale(setup, mixed_examples):
    model, task, mean = setup
    every = HeadSet.of([(l, h) for l in range(3) for h in range(4)])
    res = faithfulness(model, task, mixed_examples, every, mean=mean, n_random=3, seed=4)
    full = evaluate(model, task, mixed_examples, progress=False)
    assert res.full.accuracy == pytest.approx(full.accuracy)
    assert res.circuit_metrics == res.full  # keeping every head ablates nothing
    summary = res.summary()
    assert summary["accuracy"]["normalized"] == pytest.approx(1.0) or math.isnan(summary["accuracy"]["normalized"])
    small = faithfulness(model, task, mixed_examples, [(2, 1), (1, 0)], mean=mean, n_random=3, seed=4)
    assert all(len(s) == 2 for s in small.random_sets) and len(small.random) == 3
    again = faithfulness(model, task, mixed_examples, [(2, 1), (1, 0)], mean=mean, n_random=3, seed=4)
    assert again.random_sets == small.random_sets and again.random == small.random
    assert small.empty == res.empty
    assert set(small.to_dict()["summary"]["margin"]) >= {"full", "circuit", "empty", "random_mean", "random_std"}
    with pytest.raises(ValueError, match="out of range"):
        faithfulness(model, task, mixed_examples, [(9, 0)], mean=mean)
