"""Data tests never touch the network or the caller's environment.

Every test sees ``datasets.load_dataset`` raising ``ConnectionError`` (tests that
need a hub answer patch it again) and no ``CIRCUITLAB_*_DIR`` variables.
"""

from __future__ import annotations

from collections.abc import Callable

import datasets
import pytest


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Block the hub; returns the list of attempted ``load_dataset`` calls."""
    calls: list[tuple] = []

    def refuse(*args, **kwargs):
        calls.append((args, kwargs))
        raise ConnectionError("offline in tests")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    monkeypatch.delenv("CIRCUITLAB_NUSAX_DIR", raising=False)
    monkeypatch.delenv("CIRCUITLAB_XNLI_DIR", raising=False)
    return calls


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[dict]], list[tuple]]:
    """``fake_hub(rows)`` makes ``load_dataset`` return ``rows``; returns the recorded calls."""

    def install(rows: list[dict]) -> list[tuple]:
        calls: list[tuple] = []

        def serve(*args, **kwargs):
            calls.append((args, kwargs))
            return rows

        monkeypatch.setattr(datasets, "load_dataset", serve)
        return calls

    return install
