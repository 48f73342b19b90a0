"""Folder datasets (``dataset.toml``): every file layout, the parallel join, the hub path, and every error.

The data conftest blocks ``datasets.load_dataset``; folder datasets read local files
through it, so these tests put the real one back (no test here reaches the network).
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest

from circuitlab.data import (
    DataError, available_languages, dataset_sha256, find_data, get_dataset, is_dataset_path, load_examples,
    load_folder_parallel,
)
from circuitlab.data.folder import folder_config

REAL_LOAD_DATASET = datasets.load_dataset

TASK = '''
[task]
template = "Review: {text}\\nSentiment:"
[task.verbalizers]
bad = " bad"
ok = " ok"
good = " good"
'''
PATTERN_TOML = '''
name = "my-reviews"
format = "csv"
files = "{language}/{split}.csv"
labels = ["bad", "ok", "good"]
[columns]
text = "review"
label = "stars"
id = "uid"
[splits]
valid = "dev"
''' + TASK


@pytest.fixture(autouse=True)
def real_datasets(offline, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets, "load_dataset", REAL_LOAD_DATASET)


def make(root: Path, toml: str | None, files: dict[str, str | bytes | pd.DataFrame]) -> Path:
    """A dataset folder: ``dataset.toml`` (unless ``None``) and the given files."""
    root.mkdir(parents=True, exist_ok=True)
    if toml is not None:
        (root / "dataset.toml").write_text(toml)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, pd.DataFrame):
            content.to_parquet(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


JV = "uid,review,stars\n1,apik tenan,good\n2,ala banget,bad\n3,lumayan,ok\n"
SU = "uid,review,stars\n2,goreng pisan,bad\n1,alus,good\n3,biasa,ok\n"


@pytest.fixture
def reviews(tmp_path: Path) -> Path:
    return make(tmp_path / "reviews", PATTERN_TOML, {"jv/train.csv": JV, "jv/dev.csv": JV, "su/train.csv": SU,
                                                     "su/test.csv": SU, "notes.txt": "ignored"})


# -- layouts ----------------------------------------------------------------------------------


def test_pattern_csv_is_a_dataset_named_by_its_resolved_path(reviews: Path, monkeypatch: pytest.MonkeyPatch):
    spec = get_dataset(str(reviews))
    assert spec.name == str(reviews.resolve()) and spec.title == "my-reviews" and spec.display == "my-reviews"
    assert spec.languages == ("jv", "su") and spec.splits == ("train", "valid", "test")
    assert spec.labels == ("bad", "ok", "good")  # the toml's label order, not the verbalizers'
    assert spec.verbalizers == (("bad", " bad"), ("ok", " ok"), ("good", " good"))
    examples = load_examples(str(reviews), "jv", "dev")  # 'dev' is the files' name of 'valid'
    assert [(e.id, e.text, e.label, e.language) for e in examples] == [
        ("1", "apik tenan", "good", "jv"), ("2", "ala banget", "bad", "jv"), ("3", "lumayan", "ok", "jv")]
    assert load_examples(str(reviews), "JV", "valid") == examples
    monkeypatch.chdir(reviews.parent)  # a relative path, and the dataset.toml itself, name the same dataset
    assert get_dataset("./reviews").name == spec.name == get_dataset("reviews/dataset.toml").name
    assert get_dataset("reviews").name == spec.name  # an existing folder
    assert find_data(spec.name) == reviews.resolve()


def test_path_rule():
    assert is_dataset_path("./x") and is_dataset_path("data/x") and is_dataset_path("~/x")
    assert not is_dataset_path("nusax") and not is_dataset_path("my-reviews")
    assert get_dataset("NusaX").name == "nusax"  # a registered name always wins


def test_available_languages_per_split(reviews: Path):
    assert available_languages(str(reviews)) == {"jv": True, "su": True}
    assert available_languages(str(reviews), split="dev") == {"jv": True, "su": False}
    assert available_languages(str(reviews), split="test") == {"jv": False, "su": True}


def test_tsv(tmp_path: Path):
    toml = PATTERN_TOML.replace('format = "csv"', 'format = "tsv"').replace(".csv", ".tsv")
    root = make(tmp_path / "d", toml, {"jv/train.tsv": JV.replace(",", "\t") + "4\tNA, tenan\tok\n"})
    examples = load_examples(str(root), "jv", "train")
    assert [e.text for e in examples] == ["apik tenan", "ala banget", "lumayan", "NA, tenan"]  # "NA" stays text


def test_jsonl_pairs_and_integer_labels(tmp_path: Path):
    toml = '''
name = "nli"
format = "jsonl"
files = "{split}-{language}.jsonl"
[columns]
text = "premise"
text_pair = "hypothesis"
label = "gold"
[task]
template = "{text} ? {text_pair}"
[task.verbalizers]
0 = " yes"
1 = " no"
'''
    rows = [{"premise": "a", "hypothesis": "b", "gold": 0}, {"premise": "c", "hypothesis": "d", "gold": 1}]
    root = make(tmp_path / "nli", toml, {"train-en.jsonl": "\n".join(json.dumps(r) for r in rows) + "\n"})
    examples = load_examples(str(root), "en", "train")
    assert [(e.id, e.text, e.text_pair, e.label) for e in examples] == [("0", "a", "b", "0"), ("1", "c", "d", "1")]
    assert get_dataset(str(root)).labels == ("0", "1")


def test_parquet(tmp_path: Path):
    toml = PATTERN_TOML.replace('format = "csv"', 'format = "parquet"').replace(".csv", ".parquet")
    frame = pd.DataFrame({"uid": [7, 8], "review": ["apik", "ala"], "stars": ["good", "bad"]})
    root = make(tmp_path / "pq", toml, {"jv/test.parquet": frame})
    assert [(e.id, e.label) for e in load_examples(str(root), "jv", "test")] == [("7", "good"), ("8", "bad")]


def test_single_file_with_language_and_split_columns(tmp_path: Path):
    toml = '''
name = "one-file"
format = "csv"
files = "all.csv"
[columns]
text = "sentence"
label = "y"
language = "lang"
split = "part"
''' + TASK
    csv = ("sentence,y,lang,part\napik,good,jv,train\nalus,good,su,train\nala,bad,jv,train\nelek,bad,jv,validation\n"
           "goreng,bad,su,train\n")
    root = make(tmp_path / "one", toml, {"all.csv": csv})
    spec = get_dataset(str(root))
    assert spec.languages == ("jv", "su") and spec.splits == ("train", "valid")
    jv = load_examples(str(root), "jv", "train")
    assert [(e.id, e.text) for e in jv] == [("0", "apik"), ("1", "ala")]  # ids: the row index within the split
    assert [e.text for e in load_examples(str(root), "jv", "validation")] == ["elek"]
    assert [e.text for e in load_examples(str(root), "su", "train")] == ["alus", "goreng"]


def test_id_column_joins_languages_in_parallel(reviews: Path):
    table = load_folder_parallel(str(reviews), ["jv", "su"], "train")
    assert list(table.columns) == ["jv", "su", "label"] and list(table.index) == ["1", "2", "3"]
    assert table.loc["2"].tolist() == ["ala banget", "goreng pisan", "bad"]  # matched by id, not by row


def test_parallel_join_refuses_labels_that_disagree(tmp_path: Path):
    root = make(tmp_path / "bad", PATTERN_TOML, {"jv/train.csv": JV, "su/train.csv": SU.replace("2,goreng pisan,bad",
                                                                                              "2,goreng pisan,ok")})
    with pytest.raises(DataError, match="different labels across languages"):
        load_folder_parallel(str(root), ["jv", "su"], "train")


def test_hub_dataset_read_from_a_local_folder(tmp_path: Path):
    readme = "---\nconfigs:\n" + "".join(
        f"- config_name: {lang}\n  data_files:\n  - split: train\n    path: {lang}/train.csv\n"
        f"  - split: validation\n    path: {lang}/validation.csv\n" for lang in ("jv", "su")) + "---\n"
    hub = make(tmp_path / "hub", None, {"README.md": readme, "jv/train.csv": JV, "jv/validation.csv": JV,
                                        "su/train.csv": SU, "su/validation.csv": SU})
    toml = f'''
name = "from-hub"
hub = "{hub}"
config = "{{language}}"
labels = ["bad", "ok", "good"]
[columns]
text = "review"
label = "stars"
id = "uid"
''' + TASK
    root = make(tmp_path / "ds", toml, {})
    spec = get_dataset(str(root))
    assert spec.languages == ("jv", "su") and spec.splits == ("train", "valid")  # 'validation' -> 'valid'
    assert [e.text for e in load_examples(str(root), "su", "valid")] == ["goreng pisan", "alus", "biasa"]


def test_an_edited_folder_is_read_again_and_hashes_differently(reviews: Path):
    before = dataset_sha256(str(reviews))
    assert before == dataset_sha256(str(reviews.resolve()))
    (reviews / "jv" / "train.csv").write_text(JV + "4,anyar,good\n")
    assert len(load_examples(str(reviews), "jv", "train")) == 4
    assert dataset_sha256(str(reviews)) != before
    (reviews / "fr").mkdir()
    (reviews / "fr" / "train.csv").write_text(JV)
    assert get_dataset(str(reviews)).languages == ("fr", "jv", "su")


def test_make_task_uses_the_toml_task(reviews: Path, tiny_qwen2):
    from circuitlab.tasks import make_task

    toml = (reviews / "dataset.toml").read_text().replace('" bad"', '" negative"').replace('" ok"', '" neutral"')
    (reviews / "dataset.toml").write_text(toml.replace('" good"', '" positive"'))
    task = make_task(str(reviews), tiny_qwen2.tokenizer)
    assert task.name == "my-reviews" and task.template == "Review: {text}\nSentiment:"
    assert task.labels == ("bad", "ok", "good") and task.verbalizers == (" negative", " neutral", " positive")
    other = make_task(str(reviews), tiny_qwen2.tokenizer, template="T: {text} =",
                      verbalizers={"bad": " no", "good": " yes"})
    assert other.template == "T: {text} =" and other.labels == ("bad", "good")


# -- errors: each says what to do -------------------------------------------------------------


def _error(root: Path, *call: str) -> str:
    with pytest.raises(DataError) as info:
        load_examples(str(root), *call) if call else get_dataset(str(root))
    return str(info.value)


def test_missing_toml(tmp_path: Path):
    message = _error(make(tmp_path / "d", None, {"jv/train.csv": JV}))
    assert "No dataset.toml in" in message and "needs a dataset.toml" in message and "README" in message


def test_not_a_folder(tmp_path: Path):
    assert "No dataset folder at" in _error(tmp_path / "nowhere")
    with pytest.raises(DataError, match="Or give the path of a dataset folder"):
        get_dataset("my-reviews")


def test_bad_toml(tmp_path: Path):
    message = _error(make(tmp_path / "d", 'name = "x\nformat = csv', {}))
    assert "dataset.toml: not valid TOML" in message and "quoting" in message


@pytest.mark.parametrize("drop, expect", [
    ('name = "my-reviews"\n', "missing required key 'name' in the top level; add e.g. name = "),
    ('text = "review"\n', "missing required key 'text' in [columns]; add e.g. text = "),
    ('format = "csv"\n', "missing required key 'format'"),
    ('[task]\ntemplate = "Review: {text}\\nSentiment:"\n', "missing required key 'template' in [task]"),
])
def test_missing_required_key(reviews: Path, drop: str, expect: str):
    text = (reviews / "dataset.toml").read_text()
    assert drop in text
    (reviews / "dataset.toml").write_text(text.replace(drop, ""))
    assert expect in _error(reviews)


def test_unknown_format_and_unknown_key(reviews: Path):
    text = (reviews / "dataset.toml").read_text()
    (reviews / "dataset.toml").write_text(text.replace('format = "csv"', 'format = "xlsx"'))
    assert "unknown format 'xlsx'; use one of csv, tsv, jsonl, parquet" in _error(reviews)
    (reviews / "dataset.toml").write_text(text.replace('labels =', 'lables ='))
    assert "unknown key 'lables' in the top level" in _error(reviews) and "Did you mean 'labels'" in _error(reviews)


def test_column_not_in_file(reviews: Path):
    text = (reviews / "dataset.toml").read_text()
    (reviews / "dataset.toml").write_text(text.replace('text = "review"', 'text = "sentence"'))
    message = _error(reviews, "jv", "train")
    assert "has no column for [columns] text = 'sentence'" in message
    assert "its columns are ['uid', 'review', 'stars']" in message and "Name one of these" in message


def test_unknown_label(reviews: Path):
    (reviews / "jv" / "train.csv").write_text(JV + "4,hmm,meh\n")
    message = _error(reviews, "jv", "train")
    assert "jv/train.csv, row 4 has label 'meh'" in message and "['bad', 'ok', 'good']" in message
    assert "add the label to [task.verbalizers]" in message


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_empty_split(tmp_path: Path, fmt: str):
    empty: str | pd.DataFrame = {"csv": "uid,review,stars\n", "jsonl": "\n",
                                 "parquet": pd.DataFrame({"uid": [], "review": [], "stars": []})}[fmt]
    toml = PATTERN_TOML.replace('format = "csv"', f'format = "{fmt}"').replace(".csv", f".{fmt}")
    root = make(tmp_path / "d", toml, {f"jv/train.{fmt}": empty})
    message = _error(root, "jv", "train")
    assert "the 'train' split of 'jv' has no rows" in message and "Add rows" in message


def test_unknown_language_and_split(reviews: Path):
    message = _error(reviews, "jw", "train")
    assert "Unknown my-reviews language 'jw'. Valid languages: jv, su" in message and "Did you mean 'jv'" in message
    message = _error(reviews, "jv", "trian")
    assert "Unknown my-reviews split 'trian'. Valid splits: train, valid, test" in message
    assert "Did you mean 'train'" in message
    message = _error(reviews, "su", "valid")
    assert "language 'su' has no 'valid' split; it has ['train', 'test']" in message


def test_template_without_text(reviews: Path):
    text = (reviews / "dataset.toml").read_text()
    (reviews / "dataset.toml").write_text(text.replace("Review: {text}", "Review:"))
    message = _error(reviews)
    assert str(reviews / "dataset.toml") in message and "has no {text} placeholder" in message
    assert "add {text}" in message


def test_pair_template_needs_text_pair(reviews: Path):
    text = (reviews / "dataset.toml").read_text()
    (reviews / "dataset.toml").write_text(text.replace('label = "stars"', 'label = "stars"\ntext_pair = "uid"'))
    assert "has no {text_pair} placeholder although [columns] text_pair is set" in _error(reviews)


def test_empty_text(reviews: Path):
    (reviews / "jv" / "train.csv").write_text(JV + '4,"",good\n')
    message = _error(reviews, "jv", "train")
    assert "row 4 has an empty text (column 'review'); fill it in or delete the row" in message


def test_language_and_split_must_come_from_somewhere(reviews: Path):
    text = (reviews / "dataset.toml").read_text()
    (reviews / "dataset.toml").write_text(text.replace("{language}/{split}.csv", "jv/{split}.csv"))
    assert "nothing says each row's language" in _error(reviews)
    (reviews / "dataset.toml").write_text(text.replace('id = "uid"', 'id = "uid"\nlanguage = "lang"'))
    assert "the language is given twice" in _error(reviews)


def test_no_file_matches(reviews: Path):
    text = (reviews / "dataset.toml").read_text()
    (reviews / "dataset.toml").write_text(text.replace("{language}/{split}.csv", "{language}/{split}.tsv"))
    assert "no file matches files = '{language}/{split}.tsv'" in _error(reviews)


def test_labels_must_match_verbalizers(reviews: Path):
    text = (reviews / "dataset.toml").read_text()
    (reviews / "dataset.toml").write_text(text.replace('"ok", "good"]', '"good"]'))
    assert "must name the same labels" in _error(reviews)


def test_config_keeps_split_aliases(reviews: Path):
    cfg = folder_config(str(reviews))
    assert cfg.canonical_split("dev") == "valid" and cfg.canonical_split("validation") == "valid"
    assert cfg.source_split("valid") == "dev"
