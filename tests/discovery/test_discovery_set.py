"""The discovery set: label-balanced, correctly classified, seeded, and clear about what is missing."""

from __future__ import annotations

import collections

import pytest

from circuitlab.data.types import Example
from circuitlab.discovery import DiscoveryError, build_discovery_set
from circuitlab.evaluation import evaluate
from circuitlab.tasks import make_task


@pytest.fixture(scope="module")
def pool(mixed_examples):
    return [Example(f"{e.id}-{k}", e.text + "!" * k, e.label, e.language)
            for k in range(4) for e in mixed_examples]  # 36 examples, 12 per label


def test_balanced_seeded_and_correct(tiny_qwen2, pool):
    task = make_task("nusax", tiny_qwen2.tokenizer)
    res = evaluate(tiny_qwen2, task, pool, progress=False)
    correct = collections.Counter(e.label for e, p in zip(pool, res.predictions) if p == e.label)
    labels = [lab for lab, c in correct.items() if c >= 2]
    assert labels, "the tiny model should get at least one label right twice"
    n = 2 * len(labels)
    dset = build_discovery_set(tiny_qwen2, task, pool, n, seed=1, labels=labels)
    assert len(dset) == n and set(dset.per_label.values()) == {2}
    assert dset.correct == {lab: correct[lab] for lab in labels}
    assert dset.evaluated == {lab: 12 for lab in labels}
    chosen = evaluate(tiny_qwen2, task, list(dset.examples), progress=False)
    assert chosen.accuracy == 1.0
    again = build_discovery_set(tiny_qwen2, task, pool, n, seed=1, labels=labels)
    assert [e.id for e in again.examples] == [e.id for e in dset.examples]
    assert "chosen" in dset.report() and dset.to_dict()["n"] == n


def test_too_few_correct_fails_with_the_counts(tiny_qwen2, pool):
    task = make_task("nusax", tiny_qwen2.tokenizer)
    with pytest.raises(DiscoveryError, match=r"too few correctly classified.*correct of 12"):
        build_discovery_set(tiny_qwen2, task, pool, 36)


def test_without_the_correctness_rule_and_bad_input(tiny_qwen2, pool):
    task = make_task("nusax", tiny_qwen2.tokenizer)
    dset = build_discovery_set(tiny_qwen2, task, pool, 10, seed=0, require_correct=False)
    assert sorted(dset.per_label.values()) == [3, 3, 4]
    with pytest.raises(DiscoveryError, match="at least 1 example"):
        build_discovery_set(tiny_qwen2, task, pool, 0)
    with pytest.raises(DiscoveryError, match="pool is empty"):
        build_discovery_set(tiny_qwen2, task, [], 5)
    with pytest.raises(DiscoveryError, match="not labels of task"):
        build_discovery_set(tiny_qwen2, task, pool, 5, labels=["happy"])
