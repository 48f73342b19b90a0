"""NusaX-Lexicon loader: the real word lists and bad inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from circuitlab.data import LEXICON_LANGUAGES, DataError, load_lexicon


def write(folder: Path, language: str, text: str) -> Path:
    path = folder / "lexicon" / f"{language}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_real_lexicons(nusax_dir: Path) -> None:
    for language in LEXICON_LANGUAGES:
        frame = load_lexicon(language, nusax_dir)
        assert list(frame.columns) == ["indonesian", "local"] and len(frame) > 500
        assert frame.attrs["language"] == language
        assert not frame.duplicated().any() and (frame != "").all().all()
        assert (frame["local"] == frame["local"].str.strip()).all()


def test_real_balinese_drops_blanks_and_duplicates(nusax_dir: Path) -> None:
    frame = load_lexicon("ban", nusax_dir / "lexicon")  # code + the lexicon/ folder itself
    assert frame.attrs["dropped"] > 0 and len(frame) + frame.attrs["dropped"] == 1063
    assert ("abu", "aon") in set(zip(frame["indonesian"], frame["local"]))


def test_env_var(nusax_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRCUITLAB_NUSAX_DIR", str(nusax_dir))
    assert len(load_lexicon("javanese")) > 500


def test_no_location() -> None:
    with pytest.raises(DataError, match=r"no data_dir given.*CIRCUITLAB_NUSAX_DIR is not set"):
        load_lexicon("javanese")


def test_indonesian_and_unknown_language(nusax_dir: Path) -> None:
    with pytest.raises(DataError, match=r"Indonesian has no file.*acehnese"):
        load_lexicon("indonesian", nusax_dir)
    with pytest.raises(DataError, match=r"Did you mean 'sundanese'"):
        load_lexicon("sundanes", nusax_dir)


def test_missing_file(tmp_path: Path) -> None:
    write(tmp_path, "javanese", ",indonesian,javanese\n0,abu,awu\n")
    with pytest.raises(DataError, match=r"missing file .*ngaju\.csv; this copy has \['javanese'\]"):
        load_lexicon("ngaju", tmp_path)


def test_missing_column_and_empty(tmp_path: Path) -> None:
    path = write(tmp_path, "javanese", ",indonesian,jawa\n0,abu,awu\n")
    with pytest.raises(DataError, match=r"no column\(s\) \['javanese'\]; found \['Unnamed: 0', 'indonesian', 'jawa'\]"):
        load_lexicon("javanese", tmp_path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="not a readable UTF-8 CSV"):
        load_lexicon("javanese", tmp_path)
    path.write_text(",indonesian,javanese\n0,abu,\n", encoding="utf-8")
    with pytest.raises(DataError, match="no word pairs"):
        load_lexicon("javanese", tmp_path)


def test_not_a_lexicon_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"holds no lexicon; expected lexicon/<language>\.csv"):
        load_lexicon("javanese", tmp_path)
    with pytest.raises(DataError, match="not an existing folder"):
        load_lexicon("javanese", tmp_path / "missing")
