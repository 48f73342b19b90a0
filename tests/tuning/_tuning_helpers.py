"""Helpers shared by the tuning tests (imported as a top-level module: the tests folder has no __init__)."""

from __future__ import annotations

import torch

from circuitlab.discovery import HeadScores
from circuitlab.tuning import ModelIndex, ModelSnapshot, ParamMask


def random_scores(model, seed: int = 0) -> HeadScores:
    g = model.geometry
    gen = torch.Generator().manual_seed(seed)
    return HeadScores.from_tensor(torch.randn(g.n_layers, g.n_heads, generator=gen), method="random-test",
                                  model=g.name, language="indonesian", n_examples=0, seed=seed)


def assert_exact_outside(model, snapshot: ModelSnapshot, mask: ParamMask) -> None:
    """Every element outside ``mask`` equals the snapshot bit for bit."""
    index = ModelIndex.build(model.hf_model, model.geometry.family)
    assert set(index.params) == set(snapshot.values)
    for name, p in index.params.items():
        before = snapshot.values[name]
        m = mask.bool_mask(name)
        if m is None:
            assert torch.equal(p, before), f"{name} is outside the mask but changed"
        else:
            assert torch.equal(p[~m], before[~m]), f"{name}: elements outside the mask changed"


def changed_blocks(model, snapshot: ModelSnapshot, mask: ParamMask) -> dict[str, bool]:
    """For each masked block (or whole tensor): did any element change?"""
    index = ModelIndex.build(model.hf_model, model.geometry.family)
    out = {}
    for tm in mask.tensors.values():
        p, before = index.params[tm.name], snapshot.values[tm.name]
        for b in tm.blocks:
            ix = tm.index(b)
            out[tm.key(b)] = bool((p[ix] != before[ix]).any())
    return out
