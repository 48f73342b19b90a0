"""XNLI: natural-language inference, the same premise/hypothesis pairs in 15 languages.

Two local formats, one per split: ``dev/dev-<lang>.tsv`` (no header;
``premise<TAB>hypothesis<TAB>label-string``) and ``test/<lang>/test.jsonl``
(``{"premise", "hypothesis", "label": 0|1|2}``). The corpus is parallel by row,
so an example's ``id`` is its row index (as a string) within the split.
XNLI has no training split: tune and discover on ``dev``, evaluate on ``test``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from circuitlab.data.errors import DataError, check_choice
from circuitlab.data.registry import (
    DatasetSpec,
    PathLike,
    check_languages,
    join_parallel,
    load_hub_rows,
    no_data_error,
    resolve_local_root,
)
from circuitlab.data.types import Example

XNLI_LANGUAGES: tuple[str, ...] = (
    "ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh",
)  # fmt: skip
XNLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")  # integer ids 0, 1, 2
XNLI_SPLITS: tuple[str, ...] = ("dev", "test")
XNLI_ENV_VAR = "CIRCUITLAB_XNLI_DIR"
XNLI_HUB_REPO = "facebook/xnli"

_LANGUAGE_ALIASES = {
    "arabic": "ar", "bulgarian": "bg", "german": "de", "greek": "el", "english": "en",
    "spanish": "es", "french": "fr", "hindi": "hi", "russian": "ru", "swahili": "sw",
    "thai": "th", "turkish": "tr", "urdu": "ur", "vietnamese": "vi", "chinese": "zh",
}  # fmt: skip
_SPLIT_ALIASES = {"validation": "dev", "valid": "dev"}
_HUB_SPLITS = {"dev": "validation", "test": "test"}
_FIELDS = ("premise", "hypothesis", "label")
_LAYOUT = "dev/dev-<lang>.tsv and/or test/<lang>/test.jsonl under the XNLI root"


def xnli_language(language: str) -> str:
    """Canonical XNLI code (accepts English names such as ``"swahili"``), else a ``DataError``."""
    return check_choice("language", language, XNLI_LANGUAGES, aliases=_LANGUAGE_ALIASES, dataset="XNLI")


def xnli_split(split: str) -> str:
    """Canonical split name (``"validation"`` means ``"dev"``), else a ``DataError``."""
    hint = "XNLI has no training split: tune and discover on 'dev', evaluate on 'test'."
    return check_choice("split", split, XNLI_SPLITS, aliases=_SPLIT_ALIASES, dataset="XNLI", hint=hint)


def xnli_path(root: Path, language: str, split: str) -> Path:
    """Where ``language``/``split`` lives under an XNLI root."""
    return root / "dev" / f"dev-{language}.tsv" if split == "dev" else root / "test" / language / "test.jsonl"


def find_xnli_root(path: Path) -> Path | None:
    """``path`` if it holds ``dev/`` or ``test/``, else ``None``."""
    return path if (path / "dev").is_dir() or (path / "test").is_dir() else None


def _has_local(root: Path, language: str, split: str | None) -> bool:
    splits = XNLI_SPLITS if split is None else (xnli_split(split),)
    return any(xnli_path(root, language, s).is_file() for s in splits)


def load_xnli(language: str, split: str, data_dir: PathLike | None = None) -> list[Example]:
    """Load one XNLI split as :class:`Example` s (``text`` = premise, ``text_pair`` = hypothesis).

    Args:
        language: an XNLI code (``"sw"``) or its English name (``"swahili"``).
        split: ``"dev"`` (alias ``"validation"``) or ``"test"``.
        data_dir: the XNLI root (holding ``dev/`` and/or ``test/``). Defaults to
            ``$CIRCUITLAB_XNLI_DIR``; with neither, or when the local copy lacks
            the file, the hub (``facebook/xnli``) is tried.

    Raises:
        DataError: unknown language/split, malformed file, no source.
    """
    language, split = xnli_language(language), xnli_split(split)
    root, looked = resolve_local_root(SPEC, data_dir)
    if root is not None:
        path = xnli_path(root, language, split)
        if path.is_file():
            return read_xnli_tsv(path, language) if split == "dev" else read_xnli_jsonl(path, language)
        looked.insert(1, f"local file {path}: does not exist")
    hub_split = _HUB_SPLITS[split]
    try:
        rows = load_hub_rows(XNLI_HUB_REPO, language, hub_split)
    except RuntimeError as exc:
        call = f"datasets.load_dataset({XNLI_HUB_REPO!r}, {language!r}, split={hub_split!r})"
        raise no_data_error(SPEC, language, split, [*looked, f"hub: {call} failed: {exc}"]) from exc
    source = f"hub {XNLI_HUB_REPO}/{language}/{hub_split}"
    return [_example(row, number, language, f"XNLI: {source}, row {number + 1}") for number, row in enumerate(rows)]


def _example(row: dict, index: int, language: str, where: str) -> Example:
    """Validate one premise/hypothesis/label record; the label may be a name or 0/1/2."""
    missing = [f for f in _FIELDS if f not in row]
    if missing:
        raise DataError(f"{where} lacks field(s) {missing}; found {sorted(row)}. Expected {list(_FIELDS)}.")
    label = row["label"]
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(XNLI_LABELS):
        label = XNLI_LABELS[label]
    if label not in XNLI_LABELS:
        raise DataError(
            f"{where} has unknown label {row['label']!r}; allowed: {list(XNLI_LABELS)} or their ids 0, 1, 2."
        )
    premise, hypothesis = str(row["premise"] or "").strip(), str(row["hypothesis"] or "").strip()
    for name, value in (("premise", premise), ("hypothesis", hypothesis)):
        if not value:
            raise DataError(f"{where} has an empty {name}; every row needs a premise and a hypothesis.")
    return Example(id=str(index), text=premise, label=label, language=language, text_pair=hypothesis)


def _check_blank_lines(blank: list[int], total: int, path: Path) -> None:
    """Trailing blank lines are harmless; one in the middle would shift the row ids."""
    inner = [line for line in blank if line < total]
    if inner:
        raise DataError(
            f"XNLI: {path} has blank line(s) {inner[:5]} between rows; ids are row numbers, so a blank "
            "line would misalign the languages. Delete the blank lines."
        )


def read_xnli_tsv(path: Path, language: str) -> list[Example]:
    """Parse a headerless ``premise<TAB>hypothesis<TAB>label`` file.

    Quotes are ordinary characters (``csv.QUOTE_NONE``): XNLI texts contain
    unbalanced quotes, and honouring them would merge rows. A leading header
    row ``premise hypothesis label`` is tolerated and skipped.
    """
    records: list[tuple[int, list[str]]] = []
    blank: list[int] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            for fields in reader:
                if not any(f.strip() for f in fields):
                    blank.append(reader.line_num)
                else:
                    records.append((reader.line_num, fields))
    except UnicodeDecodeError as exc:
        raise DataError(f"XNLI: {path} is not UTF-8 ({exc}); re-save it as UTF-8.") from exc
    except csv.Error as exc:
        raise DataError(f"XNLI: {path} is not a valid TSV ({exc}).") from exc
    if records and [f.strip().lower() for f in records[0][1]] == list(_FIELDS):
        records = records[1:]
    if not records:
        raise DataError(f"XNLI: {path} has no rows; the split is empty. Restore the file.")
    _check_blank_lines(blank, records[-1][0], path)
    examples = []
    for index, (line, fields) in enumerate(records):
        where = f"XNLI: {path}, line {line}"
        if len(fields) != 3:
            raise DataError(
                f"{where} has {len(fields)} tab-separated fields; expected 3 (premise, hypothesis, label). "
                "Remove tabs inside the texts."
            )
        examples.append(_example(dict(zip(_FIELDS, fields)) | {"label": fields[2].strip()}, index, language, where))
    return examples


def read_xnli_jsonl(path: Path, language: str) -> list[Example]:
    """Parse a ``{"premise", "hypothesis", "label"}`` per-line JSON file."""
    examples: list[Example] = []
    blank: list[int] = []
    last = 0
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for line_no, line in enumerate(fh, start=1):
                if not line.strip():
                    blank.append(line_no)
                    continue
                where = f"XNLI: {path}, line {line_no}"
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"{where} is not valid JSON ({exc}); expected one object per line.") from exc
                if not isinstance(row, dict):
                    raise DataError(f"{where} is a {type(row).__name__}, not a JSON object with {list(_FIELDS)}.")
                examples.append(_example(row, len(examples), language, where))
                last = line_no
    except UnicodeDecodeError as exc:
        raise DataError(f"XNLI: {path} is not UTF-8 ({exc}); re-save it as UTF-8.") from exc
    if not examples:
        raise DataError(f"XNLI: {path} has no rows; the split is empty. Restore the file.")
    _check_blank_lines(blank, last, path)
    return examples


def load_xnli_parallel(
    languages: Sequence[str], split: str, data_dir: PathLike | None = None
) -> pd.DataFrame:
    """Parallel rows: index ``id``, columns ``<lang>_premise``, ``<lang>_hypothesis``, ``label``.

    Keeps only ids (row numbers) present in every language; raises a
    ``DataError`` if a label disagrees between languages.
    """
    names = check_languages(SPEC, languages, xnli_language)
    per_language = {name: load_xnli(name, split, data_dir) for name in names}
    return join_parallel(
        per_language,
        lambda lang, ex: {f"{lang}_premise": ex.text, f"{lang}_hypothesis": ex.text_pair or ""},
        "XNLI",
    )


SPEC = DatasetSpec(
    name="xnli",
    languages=XNLI_LANGUAGES,
    labels=XNLI_LABELS,
    splits=XNLI_SPLITS,
    loader=load_xnli,
    env_var=XNLI_ENV_VAR,
    default_relative_dir="data/xnli",
    find_root=find_xnli_root,
    has_local=_has_local,
    layout=_LAYOUT,
    title="XNLI",
    language_aliases=_LANGUAGE_ALIASES,
)
