"""Which examples each stage of CT-SFT sees (the paper's pools, made explicit).

Per language, the train split is cut into two disjoint, label-stratified pools
(:func:`circuitlab.data.proxy_pools`, seeded by ``pool_seed``):

- **pool A** (400): proxy competence tuning (its n_src examples), the
  label-balanced mean and the discovery set;
- **pool B** (100): held out from all of that; the target-language tuning
  examples are drawn from it.

Because NusaX is parallel and the samplers order examples by id, the same
``pool_seed`` gives the same ids in every language: the Javanese pool B is the
translation of the Indonesian pool B, so no target tuning sentence is a
translation of a sentence used for discovery or proxy tuning.

The validation split (100) chooses learning rates and the CT-SFT branch; the test
split (400, or a label-stratified ``test_limit`` subset) is only ever evaluated.

Label balance: NusaX pool B holds 38/24/38 negative/neutral/positive, so a
perfectly balanced n = 100 does not exist. :func:`near_balanced_sample` takes
``n // L`` of each label where it can and hands the rest to labels with examples
left (seeded); its result is reported with each run (``train_label_counts``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from circuitlab.data import DataError, Example, load_examples, proxy_pools


def _opt(default, help: str):
    return field(default=default, metadata={"help": help})


def near_balanced_sample(examples: Sequence[Example], n: int, seed: int) -> list[Example]:
    """``n`` examples with labels as equal as the pool allows, shuffled (deterministic in ``seed``)."""
    if n > len(examples):
        raise DataError(f"Cannot draw {n} examples from a pool of {len(examples)}; lower n (--shots / --n-src).")
    rng = random.Random(seed)
    groups: dict[str, list[Example]] = {}
    for ex in sorted(examples, key=lambda e: (e.id, e.language, e.text)):
        groups.setdefault(ex.label, []).append(ex)
    labels = sorted(groups)
    quota = {lab: min(n // len(labels), len(groups[lab])) for lab in labels}
    while sum(quota.values()) < n:
        room = [lab for lab in labels if quota[lab] < len(groups[lab])]
        rng.shuffle(room)
        room.sort(key=lambda lab: quota[lab])  # fill the smallest first
        quota[room[0]] += 1
    picked = [ex for lab in labels for ex in rng.sample(groups[lab], quota[lab])]
    rng.shuffle(picked)
    return picked


def label_counts(examples: Sequence[Example]) -> dict[str, int]:
    return dict(sorted(Counter(e.label for e in examples).items()))


@dataclass(frozen=True)
class DataProtocol:
    """Where every stage's examples come from (see module docstring)."""

    dataset: str = _opt("nusax", "Dataset: a registered name or a dataset folder (circuitlab.data.get_dataset).")
    data_dir: str | None = _opt(None, "Local data folder (default: the dataset's env var / ../shared / hub).")
    pool_a: int = _opt(400, "Pool A size per language (proxy tuning, mean, discovery).")
    pool_b: int = _opt(100, "Pool B size per language (held out; target tuning examples).")
    pool_seed: int = _opt(0, "Seed of the pool split (the same for every language and run).")
    test_limit: int | None = _opt(None, "Evaluate on a label-stratified subset of this many test examples.")
    val_limit: int | None = _opt(None, "Use a label-stratified subset of this many validation examples.")

    def _split(self, language: str, split: str) -> list[Example]:
        return load_examples(self.dataset, language, split, self.data_dir)

    def pools(self, language: str) -> tuple[list[Example], list[Example]]:
        return proxy_pools(self._split(language, "train"), self.pool_a, self.pool_b, self.pool_seed)

    def proxy_train(self, language: str, n_src: int, seed: int) -> list[Example]:
        """``n_src`` near-balanced examples of the proxy language's pool A."""
        return near_balanced_sample(self.pools(language)[0], n_src, seed)

    def target_train(self, language: str, n: int, seed: int) -> list[Example]:
        """``n`` near-balanced examples of the target language's pool B."""
        return near_balanced_sample(self.pools(language)[1], n, seed)

    def _limited(self, examples: list[Example], limit: int | None) -> list[Example]:
        if limit is None or limit >= len(examples):
            return examples
        return proxy_pools(examples, limit, 0, seed=0)[0]

    def validation(self, language: str) -> list[Example]:
        return self._limited(self._split(language, "valid"), self.val_limit)

    def test(self, language: str) -> list[Example]:
        return self._limited(self._split(language, "test"), self.test_limit)
