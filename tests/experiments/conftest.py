"""Fixtures for the experiments layer: small fake-backend specs and run folders."""

from __future__ import annotations

import pytest

from circuitlab.experiments import spec_from_dict


def fake_spec_dict(**sections) -> dict:
    """A small fake-backend spec (3 targets x 3 methods x 2 seeds = 18 cells) with ``sections`` merged in."""
    d = {
        "name": "test", "backend": "fake", "backend_options": {},
        "data": {"dataset": "nusax", "proxy": ["indonesian"], "targets": ["javanese", "sundanese", "acehnese"]},
        "grid": {"methods": ["circuit", "nearzero", "full"], "k": [3], "shots": [25], "seeds": [31, 777]},
        "discovery": {"on_targets": True},
        "runtime": {"quiet": True},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(d.get(key), dict):
            d[key] = {**d[key], **value}
        else:
            d[key] = value
    return d


@pytest.fixture
def spec_dict():
    """The function building a fake spec's dict (see :func:`fake_spec_dict`)."""
    return fake_spec_dict


@pytest.fixture
def fake_spec():
    def make(**sections):
        return spec_from_dict(fake_spec_dict(**sections))

    return make
