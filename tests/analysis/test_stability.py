from collections import Counter

import pytest

from circuitlab.analysis import bootstrap_topk_frequency


@pytest.fixture
def count_scorer(make_scores):
    """Head (0, h) scores the number of examples equal to h: a scorer whose top-k we can predict."""

    def score(examples: list[int]):
        counts = Counter(examples)
        return make_scores([[counts.get(h, 0) for h in range(3)]])

    return score


def test_certain_head_has_frequency_one(count_scorer):
    out = bootstrap_topk_frequency(count_scorer, [0] * 8, k=1, n_boot=20, progress=False)
    freq = {(r.layer, r.head): r.frequency for r in out.itertuples()}
    assert freq == {(0, 0): 1.0, (0, 1): 0.0, (0, 2): 0.0}
    assert out.attrs == {"k": 1, "n_boot": 20, "seed": 0, "stratified": False}


def test_counts_sum_to_k_times_n_boot_and_seeded(count_scorer):
    examples = [0, 0, 0, 1, 1, 2]
    one = bootstrap_topk_frequency(count_scorer, examples, k=2, n_boot=50, seed=5, progress=False)
    two = bootstrap_topk_frequency(count_scorer, examples, k=2, n_boot=50, seed=5, progress=False)
    assert one.equals(two)
    assert one["count"].sum() == 100
    assert one["frequency"].tolist() == sorted(one["frequency"].tolist(), reverse=True)
    assert one.iloc[0][["layer", "head"]].tolist() == [0, 0]


def test_stratified_resamples_keep_label_balance(make_scores):
    labels = ["neg", "neg", "pos", "pos", "neu", "neu"]
    seen = []

    def scorer(batch):
        seen.append(Counter(label for _, label in batch))
        return make_scores([[1.0, 0.0]])

    examples = list(zip(range(6), labels))
    out = bootstrap_topk_frequency(scorer, examples, k=1, n_boot=10, strata=labels, progress=False)
    assert all(c == Counter(labels) for c in seen)
    assert out.attrs["stratified"] is True


def test_rejects_bad_input(count_scorer):
    with pytest.raises(ValueError, match="one label per example"):
        bootstrap_topk_frequency(count_scorer, [0, 1], k=1, strata=["a"], progress=False)
    with pytest.raises(ValueError, match="no examples"):
        bootstrap_topk_frequency(count_scorer, [], k=1, progress=False)
