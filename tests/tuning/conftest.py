"""Fixtures for the tuning tests: a few labelled prompts, random head scores, exactness checks."""

from __future__ import annotations

import pytest

from circuitlab.data import Example
from circuitlab.tuning import ModelSnapshot

_TEXTS = [
    ("Saya sangat senang dengan pelayanan restoran ini", "positive"),
    ("Tempatnya kotor dan pelayannya tidak ramah", "negative"),
    ("Hotel ini berada di pusat kota", "neutral"),
    ("makanannya enak sekali", "positive"),
    ("saya kecewa", "negative"),
    ("dekat stasiun", "neutral"),
]


@pytest.fixture(scope="session")
def examples() -> list[Example]:
    """Six labelled Indonesian prompts (two per label), no data folder needed."""
    return [Example(str(i), t, lab, "indonesian") for i, (t, lab) in enumerate(_TEXTS)]


@pytest.fixture
def pristine(tiny_model):
    """The session's tiny model, restored bit for bit after the test (it is shared with other tests)."""
    snap = ModelSnapshot.take(tiny_model)
    yield snap
    snap.restore(tiny_model)
