"""Discovery for the ctsft backend: the discovery set M (with its one fallback) and CD-T's growth order."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from circuitlab.experiments.cells import RunContext
    from circuitlab.experiments.spec import ExperimentSpec


def discovery_set(model, task, pool, spec: "ExperimentSpec", ctx: "RunContext"):
    """M: ``discovery.n_examples`` label-balanced examples of ``pool`` that θ1 classifies correctly.

    When θ1 gets too few examples of some label right, the set shrinks to the largest balanced size
    available (at least 3 per label), else that label is left out; returns ``(set, fallback)`` where ``fallback``
    says what was done (``None`` when nothing was). Fewer than 2 examples per label is an error.
    """
    from circuitlab.discovery import DiscoveryError, build_discovery_set

    disc, ev = spec.discovery, spec.evaluation
    kwargs = dict(seed=disc.seed, max_pool=disc.max_pool or None, require_correct=disc.require_correct,
                  batch_size=ev.batch_size, max_length=ev.max_length, progress=ctx.progress)
    try:
        return build_discovery_set(model, task, pool, disc.n_examples, **kwargs), None
    except DiscoveryError as exc:
        first = exc
    from circuitlab.evaluation import predict_logits

    cands = list(pool)  # the candidates build_discovery_set classified (same seeded shuffle and cut)
    if disc.max_pool:
        import random

        random.Random(disc.seed).shuffle(cands)
        cands = cands[: disc.max_pool]
    pred = predict_logits(model, task, cands, ev.batch_size, ev.max_length, progress=False).argmax(-1).tolist()
    correct = {lab: sum(task.labels[p] == e.label == lab for e, p in zip(cands, pred)) for lab in task.labels}
    labels = [lab for lab in task.labels if correct[lab] >= 3]
    n = min(disc.n_examples, len(labels) * min(correct[lab] for lab in labels)) if labels else 0
    if n < 2 * len(task.labels):
        raise first
    n -= n % len(labels)
    ctx.logger.warning("discovery: %s -> using n=%d over labels %s instead", first, n, labels)
    dset = build_discovery_set(model, task, pool, n, **{**kwargs, "labels": labels})
    return dset, {"requested_n": disc.n_examples, "n": n, "labels": labels, "correct": correct,
                  "reason": str(first)}


def growth_order(scores, growth) -> list:
    """Heads in the order CD-T's growth chose them (depth 0's by score first); ``[]`` without growth."""
    if growth is None:
        return []
    order = []
    for d in growth.depths:
        df = d.scores.table
        by_score = {(int(l), int(h)): s for l, h, s in zip(df["layer"], df["head"], df["score"])}
        order += sorted(d.chosen, key=lambda h: -by_score.get((h.layer, h.head), float("-inf")))
    return order


def circuit_from_order(order: list, k: int | float, scores, geometry) -> list[tuple[int, int]]:
    """The first ``k`` heads of the growth order, topped up by depth-0 rank when ``k`` exceeds the grown circuit."""
    from circuitlab.discovery import resolve_k

    n = resolve_k(k, geometry.n_layers * geometry.n_heads)
    heads = [tuple(h) for h in order][:n]
    if len(heads) < n:
        for l, h in scores.table.sort_values("rank")[["layer", "head"]].itertuples(index=False):
            if (int(l), int(h)) not in heads:
                heads.append((int(l), int(h)))
            if len(heads) == n:
                break
    return heads


__all__ = ["circuit_from_order", "discovery_set", "growth_order"]
