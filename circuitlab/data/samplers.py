"""Seeded, label-aware subsets of a list of examples.

Every function is pure and reproducible: it depends only on the *set* of
examples and an ``int`` seed (``random.Random(seed)``, never ``hash()``), so it
gives the same answer in every process. Examples are first put in a canonical
order (by id, then language and text), so with the same seed the same ids are
picked in every language of a parallel corpus: a 16-shot Javanese set and a
16-shot English set drawn with one seed are translations of each other.

Label order is the order of first appearance in that canonical order unless
``labels`` is given. Bad arguments raise ``ValueError``; too few examples for
what was asked raise :class:`~circuitlab.data.errors.DataError` with the counts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from circuitlab.errors import UserError
from circuitlab.data.errors import DataError
from circuitlab.data.types import Example


def _key(ex: Example) -> tuple[str, str, str, str, str]:
    return (ex.id, ex.language, ex.text, ex.text_pair or "", ex.label)


def _by_label(examples: Sequence[Example], labels: Sequence[str] | None) -> dict[str, list[Example]]:
    """Canonically ordered examples grouped by label (only ``labels``, if given)."""
    groups: dict[str, list[Example]] = {label: [] for label in labels or ()}
    for ex in sorted(examples, key=_key):
        if labels is None:
            groups.setdefault(ex.label, [])
        if ex.label in groups:
            groups[ex.label].append(ex)
    if not groups:
        raise DataError("No examples to sample from; load a non-empty split first.")
    return groups


def _check_seed(seed: int) -> random.Random:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UserError(f"seed must be an int, got {seed!r}.")
    return random.Random(seed)


def _counts(groups: dict[str, list[Example]]) -> str:
    return ", ".join(f"{label}: {len(exs)}" for label, exs in groups.items())


def _largest_remainder(weights: dict[str, int], n: int, capacity: dict[str, int]) -> dict[str, int]:
    """Split ``n`` in proportion to ``weights`` without exceeding ``capacity``.

    Floors first, then hands out the remainder by largest fractional part (ties
    in label order); anything over a label's capacity goes to labels with room.
    """
    total = sum(weights.values())
    quota = {label: min(capacity[label], n * w // total) if total else 0 for label, w in weights.items()}
    order = sorted(weights, key=lambda lab: -((n * weights[lab]) % total if total else 0))
    while sum(quota.values()) < n:
        room = [label for label in order if quota[label] < capacity[label]]
        if not room:
            break
        for label in room[: n - sum(quota.values())]:
            quota[label] += 1
    return quota


def balanced_sample(
    examples: Sequence[Example], n: int, seed: int, labels: Sequence[str] | None = None
) -> list[Example]:
    """``n`` examples with labels as equal as possible, in shuffled order.

    With ``L`` labels each gets ``n // L``; the ``n % L`` extra slots go to
    labels chosen at random (seeded). Examples whose label is not in ``labels``
    are ignored. Raises ``DataError`` naming each label's count if one is short.
    """
    if n < 0:
        raise UserError(f"n must be >= 0, got {n}.")
    rng = _check_seed(seed)
    groups = _by_label(examples, labels)
    names = list(groups)
    quota = dict.fromkeys(names, n // len(names))
    for label in rng.sample(names, n % len(names)):
        quota[label] += 1
    short = [label for label in names if len(groups[label]) < quota[label]]
    if short:
        most = len(names) * min(len(exs) for exs in groups.values())
        raise DataError(
            f"Cannot draw a balanced sample of {n}: label(s) {short} have too few examples "
            f"({_counts(groups)}). Ask for at most {most}, or pass labels=... to drop a label."
        )
    picked = [ex for label in names for ex in rng.sample(groups[label], quota[label])]
    rng.shuffle(picked)
    return picked


def k_shot(
    examples: Sequence[Example], k_per_class: int, seed: int, labels: Sequence[str] | None = None
) -> list[Example]:
    """Exactly ``k_per_class`` examples of every label, shuffled (few-shot sets)."""
    if k_per_class < 0:
        raise UserError(f"k_per_class must be >= 0, got {k_per_class}.")
    rng = _check_seed(seed)
    groups = _by_label(examples, labels)
    short = [label for label, exs in groups.items() if len(exs) < k_per_class]
    if short:
        raise DataError(
            f"Cannot draw {k_per_class} per class: label(s) {short} have fewer ({_counts(groups)}). "
            f"Use k_per_class <= {min(len(exs) for exs in groups.values())}."
        )
    picked = [ex for exs in groups.values() for ex in rng.sample(exs, k_per_class)]
    rng.shuffle(picked)
    return picked


def proxy_pools(
    examples: Sequence[Example], pool_a: int, pool_b: int, seed: int
) -> tuple[list[Example], list[Example]]:
    """Two disjoint pools of sizes ``pool_a`` and ``pool_b``, each label-stratified.

    Each pool's label mix follows the input's (largest-remainder rounding), e.g.
    one pool to find a circuit and a disjoint one to check it. Both are shuffled.
    """
    if pool_a < 0 or pool_b < 0:
        raise UserError(f"pool sizes must be >= 0, got {pool_a} and {pool_b}.")
    rng = _check_seed(seed)
    groups = _by_label(examples, None)
    total = sum(len(exs) for exs in groups.values())
    if pool_a + pool_b > total:
        raise DataError(
            f"Cannot draw disjoint pools of {pool_a} + {pool_b} = {pool_a + pool_b} from {total} examples "
            f"({_counts(groups)}). Shrink the pools or load a bigger split."
        )
    for exs in groups.values():
        rng.shuffle(exs)
    sizes = {label: len(exs) for label, exs in groups.items()}
    quota_a = _largest_remainder(sizes, pool_a, sizes)
    quota_b = _largest_remainder(sizes, pool_b, {lab: sizes[lab] - quota_a[lab] for lab in sizes})
    a = [ex for lab, exs in groups.items() for ex in exs[: quota_a[lab]]]
    b = [ex for lab, exs in groups.items() for ex in exs[quota_a[lab] : quota_a[lab] + quota_b[lab]]]
    rng.shuffle(a)
    rng.shuffle(b)
    return a, b


def stratified_split(
    examples: Sequence[Example], fractions: Sequence[float], seed: int
) -> list[list[Example]]:
    """Partition ``examples`` into ``len(fractions)`` parts, each label split in those proportions.

    ``fractions`` must be non-negative and sum to 1, e.g. ``(0.8, 0.2)``. Every
    example lands in exactly one part; within a label the cut points are
    rounded, so a part's size is within one per label of its exact share.
    """
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise UserError(f"fractions must be non-negative and sum to 1, got {list(fractions)}.")
    rng = _check_seed(seed)
    parts: list[list[Example]] = [[] for _ in fractions]
    for exs in _by_label(examples, None).values():
        rng.shuffle(exs)
        cumulative, start = 0.0, 0
        for part, fraction in zip(parts, fractions):
            cumulative += fraction
            end = round(cumulative * len(exs))
            part.extend(exs[start:end])
            start = end
        parts[-1].extend(exs[start:])
    for part in parts:
        rng.shuffle(part)
    return parts
