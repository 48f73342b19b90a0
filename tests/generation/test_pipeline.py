"""The pieces of a generative run that need no model: head choice and configuration checks."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from circuitlab.errors import UserError
from circuitlab.generation import TranslationConfig, random_heads, top_heads


def test_top_heads_are_best_first():
    scores = torch.tensor([[0.1, 0.9], [0.5, -1.0], [0.7, 0.2]])
    assert top_heads(scores, 3) == [(0, 1), (2, 0), (1, 0)]


def test_random_heads_are_distinct_seeded_and_in_range():
    g = SimpleNamespace(n_layers=3, n_heads=4)
    a = random_heads(g, 5, seed=31)
    assert a == random_heads(g, 5, seed=31) and a != random_heads(g, 5, seed=32)
    assert len(set(a)) == 5 and all(0 <= la < 3 and 0 <= h < 4 for la, h in a) and a == sorted(a)


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "prefix"}, "Unknown method"), ({"scorer": "x"}, "Unknown scorer"),
    ({"k": 0}, "k must be at least 1"), ({"n_test": 0}, "n_test must be at least 1"),
])
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(UserError, match=message):
        TranslationConfig(**kwargs)


def test_k_larger_than_the_model_is_refused():
    g = SimpleNamespace(n_layers=2, n_heads=2)
    with pytest.raises(UserError, match="k=5 but the model has 4 heads"):
        TranslationConfig(k=5).check_model(g)
    TranslationConfig(k=5, method="full").check_model(g)  # k does not matter without heads


def test_default_settings_follow_the_method_and_keep_an_explicit_lr():
    from circuitlab.generation.pipeline import default_settings

    assert default_settings("circuit").lr == 1e-4 and default_settings("full").lr == 2e-5
    assert default_settings("full", lr=1e-4).lr == 1e-4  # an explicit lr is never replaced
    assert default_settings("lora", epochs=3).epochs == 3 and default_settings("lora").max_length == 256
