"""One method table, read by every layer: each row is usable everywhere the moment it exists."""

from __future__ import annotations

import pytest

from circuitlab.errors import UserError
from circuitlab.methods import METHODS, get_method


def test_every_trainable_method_has_a_tuner_and_a_fake_effect():
    from circuitlab.experiments.fake import METHOD_EFFECT
    from circuitlab.tuning import BUILDERS
    from circuitlab.tuning import METHODS as TRAINABLE

    for name, m in METHODS.items():
        if m.derived_from:
            assert name not in BUILDERS and name not in TRAINABLE
            assert all(METHODS[b].trainable and METHODS[b].uses_k for b in m.derived_from)
        else:
            assert name in BUILDERS and name in METHOD_EFFECT and TRAINABLE[name] is m
        assert m.uses_k == (m.selection is not None or bool(m.derived_from))
        assert not (m.dense and m.uses_heads)


def test_the_grid_follows_the_table(fake_spec):
    from circuitlab.experiments import grid

    spec = fake_spec(grid={"methods": list(METHODS), "k": [2, 3], "shots": [25], "seeds": [31]})
    cells = [c for c in grid(spec) if c.target == "javanese"]
    for name, m in METHODS.items():
        ks = sorted(c.k for c in cells if c.method == name) if m.uses_k else [c.k for c in cells if c.method == name]
        assert ks == ([2, 3] if m.uses_k else [None]), name


def test_unknown_methods_get_a_hint():
    with pytest.raises(UserError, match="Did you mean 'nearzero'"):
        get_method("nearzer")
