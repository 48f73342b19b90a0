"""Samplers: reproducible, balanced/stratified, disjoint, and the same ids across languages."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from circuitlab.data import DataError, Example, balanced_sample, k_shot, load_nusax, proxy_pools, stratified_split


def make(counts: dict[str, int], language: str = "xx") -> list[Example]:
    out, i = [], 0
    for label, n in counts.items():
        for _ in range(n):
            out.append(Example(str(i), f"text {i}", label, language))
            i += 1
    return out


POOL = make({"negative": 50, "neutral": 30, "positive": 20})


def ids(examples: list[Example]) -> list[str]:
    return [ex.id for ex in examples]


def test_balanced_sample_is_balanced_and_reproducible() -> None:
    sample = balanced_sample(POOL, 31, seed=3)
    counts = Counter(ex.label for ex in sample)
    assert len(sample) == 31 and len(set(ids(sample))) == 31
    assert max(counts.values()) - min(counts.values()) <= 1 and set(counts) == {"negative", "neutral", "positive"}
    assert ids(sample) == ids(balanced_sample(POOL, 31, seed=3))
    assert ids(sample) != ids(balanced_sample(POOL, 31, seed=4))


def test_samplers_ignore_input_order() -> None:
    shuffled = POOL[:]
    random.Random(0).shuffle(shuffled)
    assert ids(balanced_sample(shuffled, 30, 1)) == ids(balanced_sample(POOL, 30, 1))
    assert ids(k_shot(shuffled, 4, 1)) == ids(k_shot(POOL, 4, 1))
    assert [ids(p) for p in proxy_pools(shuffled, 10, 10, 1)] == [ids(p) for p in proxy_pools(POOL, 10, 10, 1)]


def test_balanced_sample_too_few_names_counts() -> None:
    pattern = r"\['positive'\] have too few.*negative: 50, neutral: 30, positive: 20.*at most 60"
    with pytest.raises(DataError, match=pattern):
        balanced_sample(POOL, 90, seed=0)
    with pytest.raises(DataError, match="no"):
        balanced_sample([], 1, seed=0)


def test_balanced_sample_label_subset() -> None:
    sample = balanced_sample(POOL, 40, seed=0, labels=["negative", "positive"])
    assert Counter(ex.label for ex in sample) == {"negative": 20, "positive": 20}
    with pytest.raises(DataError, match=r"\['mixed'\] have too few.*mixed: 0"):
        balanced_sample(POOL, 4, seed=0, labels=["negative", "mixed"])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="seed must be an int"):
        balanced_sample(POOL, 3, seed="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be"):
        balanced_sample(POOL, -1, seed=0)
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(POOL, (0.5, 0.4), seed=0)


def test_k_shot() -> None:
    shots = k_shot(POOL, 5, seed=0)
    assert Counter(ex.label for ex in shots) == {"negative": 5, "neutral": 5, "positive": 5}
    with pytest.raises(DataError, match=r"\['positive'\] have fewer.*k_per_class <= 20"):
        k_shot(POOL, 21, seed=0)


def test_proxy_pools_disjoint_and_stratified() -> None:
    a, b = proxy_pools(POOL, 40, 50, seed=7)
    assert len(a) == 40 and len(b) == 50 and not set(ids(a)) & set(ids(b))
    assert Counter(ex.label for ex in a) == {"negative": 20, "neutral": 12, "positive": 8}
    assert Counter(ex.label for ex in b) == {"negative": 25, "neutral": 15, "positive": 10}
    a2, b2 = proxy_pools(POOL, 60, 40, seed=7)  # uses every example
    assert sorted(ids(a2) + ids(b2), key=int) == ids(POOL)
    with pytest.raises(DataError, match=r"60 \+ 41 = 101 from 100"):
        proxy_pools(POOL, 60, 41, seed=7)


def test_stratified_split_partitions() -> None:
    train, test = stratified_split(POOL, (0.8, 0.2), seed=2)
    assert sorted(ids(train) + ids(test), key=int) == ids(POOL)
    assert Counter(ex.label for ex in test) == {"negative": 10, "neutral": 6, "positive": 4}
    assert ids(test) == ids(stratified_split(POOL, (0.8, 0.2), seed=2)[1])


def test_same_ids_in_every_language(nusax_dir: Path) -> None:
    english = load_nusax("english", "train", nusax_dir)
    javanese = load_nusax("javanese", "train", nusax_dir)
    assert ids(k_shot(english, 8, 11)) == ids(k_shot(javanese, 8, 11))
    assert ids(balanced_sample(english, 100, 11)) == ids(balanced_sample(javanese[::-1], 100, 11))
    assert [ids(p) for p in proxy_pools(english, 50, 50, 11)] == [ids(p) for p in proxy_pools(javanese, 50, 50, 11)]


def test_same_answer_in_another_process() -> None:
    code = (
        "from circuitlab.data.samplers import balanced_sample\n"
        "from circuitlab.data.types import Example\n"
        "pool = [Example(str(i), 't', ('a', 'b', 'c')[i % 3], 'xx') for i in range(90)]\n"
        "print(','.join(e.id for e in balanced_sample(pool, 20, 5)))\n"
    )
    env = {"PYTHONHASHSEED": "123", "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    pool = [Example(str(i), "t", ("a", "b", "c")[i % 3], "xx") for i in range(90)]
    assert out.stdout.strip() == ",".join(ids(balanced_sample(pool, 20, 5)))
