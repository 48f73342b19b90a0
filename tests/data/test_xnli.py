"""XNLI loader: both local formats, parallel rows, directory resolution, bad inputs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from circuitlab.data import XNLI_LABELS, XNLI_LANGUAGES, DataError, Example, load_xnli, load_xnli_parallel

DEV = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "th", "tr", "vi", "zh")
TEST = ("ar", "de", "en", "es", "fr", "hi", "tr", "vi", "zh")


def write_dev(root: Path, language: str, text: str) -> Path:
    path = root / "dev" / f"dev-{language}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_test(root: Path, language: str, lines: list[str]) -> Path:
    path = root / "test" / language / "test.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_constants() -> None:
    assert XNLI_LANGUAGES == ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
    assert XNLI_LABELS == ("entailment", "neutral", "contradiction")


def test_real_dev_files(xnli_dir: Path) -> None:
    for language in DEV:
        examples = load_xnli(language, "dev", xnli_dir)
        assert len(examples) == 2490, language
        assert Counter(ex.label for ex in examples) == dict.fromkeys(XNLI_LABELS, 830)
        assert [ex.id for ex in examples[:3]] == ["0", "1", "2"] and examples[-1].id == "2489"
        assert all(ex.text and ex.text_pair and ex.language == language for ex in examples)


def test_real_test_files(xnli_dir: Path) -> None:
    for language in TEST:
        examples = load_xnli(language, "test", xnli_dir)
        assert len(examples) == 5010
        assert Counter(ex.label for ex in examples) == dict.fromkeys(XNLI_LABELS, 1670)


def test_premise_hypothesis_and_aliases(xnli_dir: Path) -> None:
    first = load_xnli("english", "validation", xnli_dir)[0]
    assert first == Example(
        "0", "And he said, Mama, I'm home.", "neutral", "en",
        "He called his mom as soon as the school bus dropped him off.",
    )  # fmt: skip


def test_parallel_real(xnli_dir: Path) -> None:
    frame = load_xnli_parallel(list(TEST), "test", xnli_dir)
    assert frame.shape == (5010, 2 * len(TEST) + 1) and frame.index.name == "id"
    assert {"en_premise", "zh_hypothesis", "label"} <= set(frame.columns)
    dev = load_xnli_parallel(["en", "de", "bg"], "dev", xnli_dir)
    assert len(dev) == 2490 and list(dev.index[:2]) == ["0", "1"]


def test_parallel_label_mismatch(tmp_path: Path) -> None:
    write_dev(tmp_path, "en", "p\th\tentailment\n")
    write_dev(tmp_path, "de", "p\th\tneutral\n")
    with pytest.raises(DataError, match="different labels"):
        load_xnli_parallel(["en", "de"], "dev", tmp_path)


def test_quotes_are_plain_characters(tmp_path: Path) -> None:
    write_dev(tmp_path, "en", 'He said "hi\tShe "left\tneutral\n"Quoted" premise\t"x"\tcontradiction\n')
    examples = load_xnli("en", "dev", tmp_path)
    assert [(ex.text, ex.text_pair) for ex in examples] == [('He said "hi', 'She "left'), ('"Quoted" premise', '"x"')]


def test_header_and_trailing_blank_lines_tolerated(tmp_path: Path) -> None:
    write_dev(tmp_path, "en", "premise\thypothesis\tlabel\np\th\tentailment\n\n\n")
    assert load_xnli("en", "dev", tmp_path) == [Example("0", "p", "entailment", "en", "h")]


def test_env_var(xnli_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIRCUITLAB_XNLI_DIR", str(xnli_dir))
    assert len(load_xnli("fr", "dev")) == 2490


def test_unknown_language_and_split() -> None:
    with pytest.raises(DataError, match=r"Unknown XNLI language 'eng'.*ar, bg.*Did you mean 'en'"):
        load_xnli("eng", "dev")
    with pytest.raises(DataError, match=r"Unknown XNLI split 'train'.*dev, test.*no training split"):
        load_xnli("en", "train")


def test_known_language_without_data_names_every_place(xnli_dir: Path, offline: list) -> None:
    with pytest.raises(DataError) as info:
        load_xnli("sw", "dev", xnli_dir)
    msg = str(info.value)
    assert str(xnli_dir / "dev" / "dev-sw.tsv") in msg
    assert "CIRCUITLAB_XNLI_DIR" in msg and "facebook/xnli" in msg and "ConnectionError" in msg
    assert offline[0] == (("facebook/xnli", "sw"), {"split": "validation"})


def test_hub_rows_become_examples(fake_hub) -> None:
    calls = fake_hub([{"premise": "P", "hypothesis": "H", "label": 2}])
    assert load_xnli("ur", "test") == [Example("0", "P", "contradiction", "ur", "H")]
    assert calls[0] == (("facebook/xnli", "ur"), {"split": "test"})


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("", r"no rows; the split is empty"),
        ("p\th\tentailment\np\tonly two\n", r"line 2 has 2 tab-separated fields; expected 3"),
        ("p\th\tentailment\np\th\tmaybe\n", r"line 2 has unknown label 'maybe'.*\['entailment', 'neutral', 'contra"),
        ("p\t \tneutral\n", r"line 1 has an empty hypothesis"),
        ("p\th\tneutral\n\np\th\tneutral\n", r"blank line\(s\) \[2\] between rows"),
    ],
)
def test_malformed_tsv(tmp_path: Path, content: str, pattern: str) -> None:
    path = write_dev(tmp_path, "de", content)
    with pytest.raises(DataError, match=pattern) as info:
        load_xnli("de", "dev", tmp_path)
    assert str(path) in str(info.value)


GOOD = json.dumps({"premise": "p", "hypothesis": "h", "label": 0})


@pytest.mark.parametrize(
    ("lines", "pattern"),
    [
        ([], r"no rows; the split is empty"),
        ([GOOD, "{not json"], r"line 2 is not valid JSON"),
        ([GOOD, "[1, 2]"], r"line 2 is a list, not a JSON object"),
        ([json.dumps({"premise": "p", "label": 1})], r"lacks field\(s\) \['hypothesis'\]; found \['label'"),
        ([json.dumps({"premise": "p", "hypothesis": "h", "label": 3})], r"line 1 has unknown label 3"),
        ([json.dumps({"premise": "", "hypothesis": "h", "label": 1})], r"line 1 has an empty premise"),
        ([GOOD, "", GOOD], r"blank line\(s\) \[2\]"),
    ],
)
def test_malformed_jsonl(tmp_path: Path, lines: list[str], pattern: str) -> None:
    path = write_test(tmp_path, "tr", lines)
    with pytest.raises(DataError, match=pattern) as info:
        load_xnli("tr", "test", tmp_path)
    assert str(path) in str(info.value)


def test_jsonl_accepts_label_names(tmp_path: Path) -> None:
    write_test(tmp_path, "tr", [json.dumps({"premise": "p", "hypothesis": "h", "label": "neutral"}), GOOD])
    assert [ex.label for ex in load_xnli("tr", "test", tmp_path)] == ["neutral", "entailment"]


def test_dev_folder_instead_of_root(xnli_dir: Path) -> None:
    with pytest.raises(DataError, match=r"does not look like XNLI data.*Did you mean '.*xnli'"):
        load_xnli("en", "dev", xnli_dir / "dev")
