"""NusaX-Senti loader: the real files, directory resolution, and every bad input."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from circuitlab.data import NUSAX_LABELS, NUSAX_LANGUAGES, DataError, Example, load_nusax, load_nusax_parallel

LOCAL = (
    "acehnese", "balinese", "banjarese", "english", "indonesian",
    "javanese", "madurese", "minangkabau", "sundanese",
)  # fmt: skip
SIZES = {"train": 500, "valid": 100, "test": 400}


def write(root: Path, language: str, split: str, text: str) -> Path:
    """Write ``<root>/sentiment/<language>/<split>.csv`` by hand."""
    path = root / "sentiment" / language / f"{split}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_constants() -> None:
    assert len(NUSAX_LANGUAGES) == 12 and {"buginese", "ngaju", "toba_batak"} <= set(NUSAX_LANGUAGES)
    assert NUSAX_LABELS == ("negative", "neutral", "positive")


@pytest.mark.parametrize("split", SIZES)
def test_real_files(nusax_dir: Path, split: str) -> None:
    for language in LOCAL:
        examples = load_nusax(language, split, nusax_dir)
        assert len(examples) == SIZES[split]
        assert len({ex.id for ex in examples}) == SIZES[split]
        assert {ex.label for ex in examples} == set(NUSAX_LABELS)
        assert all(isinstance(ex, Example) and ex.language == language and ex.text for ex in examples)


def test_real_label_counts_and_aliases(nusax_dir: Path) -> None:
    examples = load_nusax("jav", "validation", nusax_dir / "sentiment")  # ISO code, alias, sentiment/ folder
    assert Counter(ex.label for ex in examples) == {"negative": 38, "positive": 38, "neutral": 24}
    assert examples[0].language == "javanese"
    assert examples == load_nusax("Javanese ", "valid", nusax_dir)


def test_parallel_real(nusax_dir: Path) -> None:
    frame = load_nusax_parallel(list(LOCAL), "test", nusax_dir)
    assert frame.shape == (400, len(LOCAL) + 1)
    assert list(frame.columns) == [*LOCAL, "label"] and frame.index.name == "id"
    english = {ex.id: ex for ex in load_nusax("english", "test", nusax_dir)}
    assert set(frame.index) == set(english)
    assert all(frame.at[i, "label"] == english[i].label for i in frame.index[:50])


def test_parallel_keeps_shared_ids_and_checks_labels(tmp_path: Path) -> None:
    write(tmp_path, "english", "train", "id,text,label\n1,good,positive\n2,bad,negative\n3,meh,neutral\n")
    write(tmp_path, "javanese", "train", "id,text,label\n3,biasa,neutral\n1,apik,positive\n")
    frame = load_nusax_parallel(["english", "jav"], "train", tmp_path)
    assert list(frame.index) == ["1", "3"] and frame.loc["1", "javanese"] == "apik"
    write(tmp_path, "javanese", "train", "id,text,label\n1,apik,negative\n")
    with pytest.raises(DataError, match=r"id '1' has different labels"):
        load_nusax_parallel(["english", "javanese"], "train", tmp_path)
    with pytest.raises(DataError, match="more than once"):
        load_nusax_parallel(["english", "eng"], "train", tmp_path)


def test_env_var_and_explicit_precedence(nusax_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRCUITLAB_NUSAX_DIR", str(nusax_dir))
    assert len(load_nusax("sundanese", "valid")) == 100
    write(tmp_path, "sundanese", "valid", "id,text,label\n7,alus,positive\n")
    assert [ex.id for ex in load_nusax("sundanese", "valid", tmp_path)] == ["7"]  # explicit beats env
    monkeypatch.setenv("CIRCUITLAB_NUSAX_DIR", str(tmp_path / "missing"))
    with pytest.raises(DataError, match=r"CIRCUITLAB_NUSAX_DIR.*not an existing folder"):
        load_nusax("sundanese", "valid")


def test_unknown_language_suggests() -> None:
    with pytest.raises(DataError, match=r"Unknown NusaX language 'javanse'.*acehnese.*Did you mean 'javanese'"):
        load_nusax("javanse", "train")


def test_unknown_split() -> None:
    with pytest.raises(DataError, match=r"Unknown NusaX split 'tarin'.*train, valid, test.*Did you mean 'train'"):
        load_nusax("javanese", "tarin")


def test_known_language_without_data_names_every_place(nusax_dir: Path, offline: list) -> None:
    with pytest.raises(DataError) as info:
        load_nusax("buginese", "train", nusax_dir)
    msg = str(info.value)
    assert str(nusax_dir / "sentiment" / "buginese") in msg
    assert "CIRCUITLAB_NUSAX_DIR" in msg and "indonlp/NusaX-senti" in msg and "ConnectionError" in msg
    assert offline[0][0] == ("indonlp/NusaX-senti", "bug")


def test_no_local_copy_tries_hub_then_explains(offline: list) -> None:
    with pytest.raises(DataError, match=r"(?s)not given.*CIRCUITLAB_NUSAX_DIR: not set.*hub.*offline in tests"):
        load_nusax("ngaju", "test")
    assert offline[0][1] == {"split": "test"}


def test_hub_rows_become_examples(fake_hub) -> None:
    calls = fake_hub([{"id": "0", "text": " Bagus ", "lang": "bbc", "label": 2}, {"id": "1", "text": "x", "label": 0}])
    examples = load_nusax("toba_batak", "valid")
    assert calls[0] == (("indonlp/NusaX-senti", "bbc"), {"split": "validation"})
    assert examples == [Example("0", "Bagus", "positive", "toba_batak"), Example("1", "x", "negative", "toba_batak")]


def test_script_repo_falls_back_to_parquet_export(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    calls: list[dict] = []

    def hub(*args, **kwargs):
        calls.append({"args": args, **kwargs})
        if "revision" not in kwargs:
            raise RuntimeError("Dataset scripts are no longer supported, but found NusaX-senti.py")
        return [{"id": "3", "text": "t", "label": 1}]

    monkeypatch.setattr(datasets, "load_dataset", hub)
    assert load_nusax("ace", "test") == [Example("3", "t", "neutral", "acehnese")]
    export = {"data_dir": "ace", "revision": "refs/convert/parquet", "split": "test"}
    assert calls[1] == {"args": ("indonlp/NusaX-senti",), **export}


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("", r"is empty; expected a header 'id,text,label'"),
        ("id,label\n1,positive\n", r"no column\(s\) \['text'\]; found columns \['id', 'label'\]"),
        ("id,text,label\n1,ok,positive\n2,hmm,happy\n", r"row 2.*label 'happy'.*\['negative', 'neutral', 'positive'\]"),
        ("id,text,label\n1,ok,positive\n2,  ,neutral\n", r"row 2 .*id '2'.*empty text"),
        ("id,text,label\n", r"no rows; the split is empty"),
        ("id,text,label\n1,good, really,positive\n", r"row 1 .*more fields.*quote texts"),
        ("id,text,label\n1,good\n", r"row 1 .*fewer fields"),
        ("id,text,label\n1,a,positive\n1,b,negative\n", r"row 2 .*repeats id '1'"),
        ("id,text,label\n,a,positive\n", r"row 1 .*empty id"),
    ],
)
def test_malformed_csv(tmp_path: Path, content: str, pattern: str) -> None:
    path = write(tmp_path, "javanese", "train", content)
    with pytest.raises(DataError, match=pattern) as info:
        load_nusax("javanese", "train", tmp_path)
    assert str(path) in str(info.value)


def test_quoted_commas_and_bom_are_fine(tmp_path: Path) -> None:
    write(tmp_path, "javanese", "test", '\ufeffid,text,label\n5,"apik, tenan",positive\n')
    assert load_nusax("javanese", "test", tmp_path) == [Example("5", "apik, tenan", "positive", "javanese")]


def test_missing_file(tmp_path: Path) -> None:
    write(tmp_path, "javanese", "train", "id,text,label\n1,a,positive\n")
    pattern = r"missing file .*test\.csv.*\['train\.csv'\].*train\.csv, valid\.csv, test\.csv"
    with pytest.raises(DataError, match=pattern):
        load_nusax("javanese", "test", tmp_path)


def test_bad_data_dir(tmp_path: Path, nusax_dir: Path) -> None:
    with pytest.raises(DataError, match="not an existing folder"):
        load_nusax("javanese", "train", tmp_path / "nope")
    with pytest.raises(DataError, match=r"does not look like NusaX data.*Did you mean '.*nusax'"):
        load_nusax("javanese", "train", nusax_dir.parent)
