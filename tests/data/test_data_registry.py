"""Dataset registry: lookup, dispatch, and which languages a local copy holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from circuitlab.data import (
    NUSAX_LANGUAGES,
    DataError,
    available_languages,
    default_data_dir,
    find_local_data_dir,
    get_dataset,
    list_datasets,
    load_examples,
    load_nusax,
    load_xnli,
)


def test_registry() -> None:
    assert list_datasets() == ["nusax", "xnli"]
    nusax = get_dataset("NusaX")
    assert nusax.languages == NUSAX_LANGUAGES and nusax.env_var == "CIRCUITLAB_NUSAX_DIR"
    assert nusax.loader is load_nusax and get_dataset("xnli").loader is load_xnli
    with pytest.raises(DataError, match=r"Unknown dataset 'xnl'.*Did you mean 'xnli'"):
        get_dataset("xnl")


def test_load_examples_dispatches(nusax_dir: Path, xnli_dir: Path) -> None:
    assert load_examples("nusax", "balinese", "valid", nusax_dir) == load_nusax("balinese", "valid", nusax_dir)
    assert len(load_examples("xnli", "hi", "dev", data_dir=xnli_dir)) == 2490


def test_available_languages(nusax_dir: Path, xnli_dir: Path) -> None:
    nusax = available_languages("nusax", nusax_dir)
    assert list(nusax) == list(NUSAX_LANGUAGES)
    assert {lang for lang, ok in nusax.items() if not ok} == {"buginese", "ngaju", "toba_batak"}
    dev = available_languages("xnli", xnli_dir, split="validation")
    test = available_languages("xnli", xnli_dir, split="test")
    assert not dev["sw"] and dev["bg"] and not test["bg"] and test["zh"]
    assert available_languages("xnli", xnli_dir)["bg"]
    assert not any(available_languages("nusax").values())  # no dir, no env var: nothing local, no hub call


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_data_dir("xnli") is None
    monkeypatch.setenv("CIRCUITLAB_XNLI_DIR", str(tmp_path))
    assert default_data_dir("xnli") == tmp_path


def test_find_local_data_dir(nusax_dir: Path, xnli_dir: Path, tmp_path: Path) -> None:
    shared = nusax_dir.parents[1]
    assert find_local_data_dir("nusax", [tmp_path, shared]) == nusax_dir
    assert find_local_data_dir("xnli", [xnli_dir.parent]) == xnli_dir
    assert find_local_data_dir("nusax", [nusax_dir]) == nusax_dir
    assert find_local_data_dir("xnli", [tmp_path, tmp_path / "missing"]) is None
