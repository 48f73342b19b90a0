"""The grid, cell ids and the shared-stage plan."""

from __future__ import annotations

import subprocess
import sys

import pytest

from circuitlab.experiments.cells import METHODS, get_backend, grid, list_backends, plan, register_backend


def test_grid_collapses_k_for_methods_without_heads(fake_spec):
    spec = fake_spec(grid={"methods": ["circuit", "full", "direct"], "k": [2, 4], "shots": [25, 100],
                           "seeds": [31]})
    cells = grid(spec)
    # 3 targets x 2 shots x 1 seed x (circuit: 2 k + full + direct) = 24
    assert len(cells) == 24
    assert {c.k for c in cells if c.method == "circuit"} == {2, 4}
    assert {c.k for c in cells if c.method in ("full", "direct")} == {None}
    assert len({c.id for c in cells}) == len(cells)
    assert "-full-n25-" in next(c.id for c in cells if c.method == "full")


def test_ids_are_stable_and_hash_what_matters(fake_spec):
    spec = fake_spec()
    ids = [c.id for c in grid(spec)]
    # same in another process (no hash randomisation)
    code = ("from circuitlab.experiments import spec_from_dict, grid;"
            f"print(' '.join(c.id for c in grid(spec_from_dict({spec.to_dict()!r}))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ids
    # how/where it runs does not matter; what it computes does
    assert [c.id for c in grid(fake_spec(runtime={"executor": "ray"}, name="x"))] == ids
    assert not set(c.id for c in grid(fake_spec(tuning={"lr": 1e-3}))) & set(ids)
    # a per-method override changes that method's cells only
    changed = {c.id for c in grid(fake_spec(tuning={"per_method": {"full": {"lr": 1e-5}}}))}
    assert {i for i in ids if "-full-" not in i} <= changed and not {i for i in ids if "-full-" in i} & changed
    # discovery settings only reach methods that use scores
    disc = {c.id for c in grid(fake_spec(discovery={"n_examples": 10}))}
    assert {i for i in ids if "-full-" in i} <= disc and not {i for i in ids if "-circuit-" in i} & disc
    # adding a target or seed keeps the existing ids
    more = {c.id for c in grid(fake_spec(data={"targets": ["javanese", "sundanese", "acehnese", "balinese"]},
                                         grid={"seeds": [31, 777, 2025]}))}
    assert set(ids) < more


def test_plan_shares_stages(fake_spec):
    spec = fake_spec(grid={"methods": ["circuit", "nearzero", "full", "direct"]})
    p = plan(spec)
    kinds = [s.kind for s in p.stages.values()]
    assert kinds.count("proxy") == 1
    # one proxy-language scores stage for the cells, plus one per target for the report (on_targets)
    assert kinds.count("scores") == 1 + 3 and len(p.extra) == 3
    proxy_id = next(s.id for s in p.stages.values() if s.kind == "proxy")
    for c in p.cells:
        needs = p.needs[c.id]
        assert ("proxy" in needs) == METHODS[c.method].from_proxy
        assert ("scores" in needs) == METHODS[c.method].needs_scores
        if c.method == "direct":
            assert p.stages[needs["before_target"]].proxy is None  # base-model baseline
        else:
            assert needs["proxy"] == proxy_id
    order = [s.id for s in p.stage_order()]
    for s in p.stages.values():
        for _, dep in s.deps:
            assert order.index(dep) < order.index(s.id)
    assert len(p.stages_for(p.cells[:1])) == 4  # proxy, scores, 2 baselines
    no_targets = plan(fake_spec(discovery={"on_targets": False}))
    assert not no_targets.extra


def test_backend_registry():
    assert {"ctsft", "fake"} <= set(list_backends())
    assert get_backend("fake", {"sleep_s": 0}).name == "fake"
    assert get_backend("circuitlab.experiments.fake:FakeBackend").name == "fake"
    with pytest.raises(ValueError, match="Unknown backend"):
        get_backend("nope")

    @register_backend("test-double")
    class Double:
        name = "test-double"

        def run_stage(self, stage, deps, ctx):
            return {}

        def run_cell(self, cell, stages, ctx):
            raise NotImplementedError

    assert get_backend("test-double").name == "test-double"


def test_seed_order_spans_every_target_first_with_the_same_ids(fake_spec):
    by_target = grid(fake_spec(grid={"seeds": [31, 777]}))
    by_seed = grid(fake_spec(grid={"seeds": [31, 777], "order": "seed"}))
    assert sorted(c.id for c in by_seed) == sorted(c.id for c in by_target)
    half = by_seed[: len(by_seed) // 2]
    assert {c.seed for c in half} == {31} and {c.target for c in half} == {c.target for c in by_target}
    first = by_target[: len(by_target) // 3]  # 3 targets: the first target's cells, both seeds
    assert {c.target for c in first} == {by_target[0].target} and {c.seed for c in first} == {31, 777}
