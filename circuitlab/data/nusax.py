"""NusaX-Senti: three-way sentiment, the same 1000 sentences in 12 languages.

Local files are ``sentiment/<language>/{train,valid,test}.csv`` with columns
``id,text,label``; the same ``id`` is the same sentence in every language, which
is what lets a circuit found in one language be tested in another. Languages are
named in full (``"javanese"``); ISO 639-3 codes (``"jav"``) are accepted too.
"""

from __future__ import annotations

import csv
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

NUSAX_LANGUAGES: tuple[str, ...] = (
    "acehnese", "balinese", "banjarese", "buginese", "english", "indonesian",
    "javanese", "madurese", "minangkabau", "ngaju", "sundanese", "toba_batak",
)  # fmt: skip
NUSAX_LABELS: tuple[str, ...] = ("negative", "neutral", "positive")  # hub integer ids 0, 1, 2
NUSAX_SPLITS: tuple[str, ...] = ("train", "valid", "test")
NUSAX_ENV_VAR = "CIRCUITLAB_NUSAX_DIR"
NUSAX_HUB_REPO = "indonlp/NusaX-senti"

#: ISO 639-3 codes; also the hub's config names.
NUSAX_CODES: dict[str, str] = {
    "acehnese": "ace", "balinese": "ban", "banjarese": "bjn", "buginese": "bug",
    "english": "eng", "indonesian": "ind", "javanese": "jav", "madurese": "mad",
    "minangkabau": "min", "ngaju": "nij", "sundanese": "sun", "toba_batak": "bbc",
}  # fmt: skip
_LANGUAGE_ALIASES = {code: name for name, code in NUSAX_CODES.items()} | {
    "toba batak": "toba_batak",
    "toba-batak": "toba_batak",
}
_SPLIT_ALIASES = {"validation": "valid", "dev": "valid"}
_HUB_SPLITS = {"train": "train", "valid": "validation", "test": "test"}
_COLUMNS = ("id", "text", "label")
_LAYOUT = "sentiment/<language>/<split>.csv under the NusaX root, or the sentiment/ folder itself"


def nusax_language(language: str) -> str:
    """Canonical full name for a NusaX language (accepts ISO codes), else a ``DataError``."""
    return check_choice("language", language, NUSAX_LANGUAGES, aliases=_LANGUAGE_ALIASES, dataset="NusaX")


def nusax_split(split: str) -> str:
    """Canonical split name (``"validation"``/``"dev"`` mean ``"valid"``), else a ``DataError``."""
    return check_choice("split", split, NUSAX_SPLITS, aliases=_SPLIT_ALIASES, dataset="NusaX")


def find_nusax_root(path: Path) -> Path | None:
    """The ``sentiment/`` folder for a NusaX root or the ``sentiment/`` folder itself."""
    if (path / "sentiment").is_dir():
        return path / "sentiment"
    if path.name == "sentiment" or any((path / name).is_dir() for name in NUSAX_LANGUAGES):
        return path
    return None


def _has_local(root: Path, language: str, split: str | None) -> bool:
    if split is None:
        return any((root / language / f"{s}.csv").is_file() for s in NUSAX_SPLITS)
    return (root / language / f"{nusax_split(split)}.csv").is_file()


def load_nusax(language: str, split: str, data_dir: PathLike | None = None) -> list[Example]:
    """Load one NusaX-Senti split as :class:`Example` s, in file order.

    Args:
        language: full name (``"javanese"``) or ISO code (``"jav"``).
        split: ``"train"``, ``"valid"`` (alias ``"validation"``) or ``"test"``.
        data_dir: the NusaX root or its ``sentiment/`` folder. Defaults to
            ``$CIRCUITLAB_NUSAX_DIR``; with neither, or when the local copy lacks
            the language, the hub (``indonlp/NusaX-senti``) is tried.

    Raises:
        DataError: unknown language/split, missing or malformed file, no source.
    """
    language, split = nusax_language(language), nusax_split(split)
    root, looked = resolve_local_root(SPEC, data_dir)
    if root is not None:
        folder = root / language
        if folder.is_dir():
            path = folder / f"{split}.csv"
            if not path.is_file():
                found = sorted(p.name for p in folder.iterdir())
                raise DataError(
                    f"NusaX: missing file {path}. The folder has {found or 'no files'}; expected "
                    f"{', '.join(s + '.csv' for s in NUSAX_SPLITS)}. Restore the file from the NusaX release."
                )
            return read_nusax_csv(path, language)
        looked.insert(1, f"local folder {folder}: does not exist")
    hub_split = _HUB_SPLITS[split]
    try:
        rows = load_hub_rows(NUSAX_HUB_REPO, NUSAX_CODES[language], hub_split)
    except RuntimeError as exc:
        call = f"datasets.load_dataset({NUSAX_HUB_REPO!r}, {NUSAX_CODES[language]!r}, split={hub_split!r})"
        raise no_data_error(SPEC, language, split, [*looked, f"hub: {call} failed: {exc}"]) from exc
    return _from_hub(rows, language, f"hub {NUSAX_HUB_REPO}/{NUSAX_CODES[language]}/{hub_split}")


def read_nusax_csv(path: Path, language: str) -> list[Example]:
    """Parse one ``id,text,label`` CSV, checking every row (see :func:`load_nusax`)."""
    examples: list[Example] = []
    seen: set[str] = set()
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None:
                raise DataError(f"NusaX: {path} is empty; expected a header 'id,text,label' and one row per example.")
            header = [name.strip() for name in reader.fieldnames]
            reader.fieldnames = header
            missing = [c for c in _COLUMNS if c not in header]
            if missing:
                raise DataError(
                    f"NusaX: {path} has no column(s) {missing}; found columns {header}. "
                    "Expected the header 'id,text,label'."
                )
            for number, row in enumerate(reader, start=1):
                where = f"NusaX: {path}, row {number} (line {reader.line_num})"
                if None in row:
                    raise DataError(
                        f"{where} has more fields than the {len(header)} header columns; "
                        "quote texts that contain commas."
                    )
                if any(row[c] is None for c in _COLUMNS):
                    raise DataError(f"{where} has fewer fields than the header {header}.")
                ex_id, text, label = row["id"].strip(), row["text"].strip(), row["label"].strip()
                if not ex_id:
                    raise DataError(f"{where} has an empty id; every row needs the id it shares across languages.")
                if ex_id in seen:
                    raise DataError(f"{where} repeats id {ex_id!r}; ids must be unique within a split.")
                if not text:
                    raise DataError(f"{where} (id {ex_id!r}) has an empty text; fill it in or drop the row.")
                if label not in NUSAX_LABELS:
                    raise DataError(
                        f"{where} (id {ex_id!r}) has unknown label {label!r}; allowed labels: {list(NUSAX_LABELS)}."
                    )
                seen.add(ex_id)
                examples.append(Example(id=ex_id, text=text, label=label, language=language))
    except UnicodeDecodeError as exc:
        raise DataError(f"NusaX: {path} is not UTF-8 ({exc}); re-save it as UTF-8.") from exc
    except csv.Error as exc:
        raise DataError(f"NusaX: {path} is not a valid CSV ({exc}); check its quoting.") from exc
    if not examples:
        raise DataError(f"NusaX: {path} has a header but no rows; the split is empty. Restore the file.")
    return examples


def _from_hub(rows: list[dict], language: str, source: str) -> list[Example]:
    examples = []
    for number, row in enumerate(rows, start=1):
        label = row.get("label")
        if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(NUSAX_LABELS):
            label = NUSAX_LABELS[label]
        if label not in NUSAX_LABELS or not str(row.get("text") or "").strip():
            raise DataError(f"NusaX: {source}, row {number} is malformed ({row!r}); expected id, text and a label.")
        examples.append(Example(id=str(row["id"]), text=str(row["text"]).strip(), label=label, language=language))
    if not examples:
        raise DataError(f"NusaX: {source} is empty.")
    return examples


def load_nusax_parallel(
    languages: Sequence[str], split: str, data_dir: PathLike | None = None
) -> pd.DataFrame:
    """The same sentences side by side: index ``id``, one text column per language, ``label``.

    Keeps only ids present in every language; raises a ``DataError`` if a label
    disagrees between languages.
    """
    names = check_languages(SPEC, languages, nusax_language)
    per_language = {name: load_nusax(name, split, data_dir) for name in names}
    return join_parallel(per_language, lambda lang, ex: {lang: ex.text}, "NusaX")


SPEC = DatasetSpec(
    name="nusax",
    languages=NUSAX_LANGUAGES,
    labels=NUSAX_LABELS,
    splits=NUSAX_SPLITS,
    loader=load_nusax,
    env_var=NUSAX_ENV_VAR,
    default_relative_dir="data/nusax",
    find_root=find_nusax_root,
    has_local=_has_local,
    layout=_LAYOUT,
    title="NusaX",
    language_aliases=_LANGUAGE_ALIASES,
)
