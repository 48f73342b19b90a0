"""``dataset.toml``: what a dataset folder says about itself, parsed and checked before any row is read.

Context
-------
A folder dataset is described, not coded. Its ``dataset.toml`` says where the rows
are (``files``: a pattern over ``{language}`` and ``{split}``, or one file whose
``[columns]`` name the language and the split; or ``hub``: a Hugging Face dataset),
which columns hold the text, the label and the id, and the task: a prompt template
and one verbalizer per label. This module turns that file into a frozen
:class:`FolderConfig`; :mod:`circuitlab.data.folder` reads the rows it points at.

Every mistake is a :class:`DataError` that names the file and the key, and says
what to write instead: a misspelt key is an error, not silently ignored.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from circuitlab.data.errors import DataError, closest

TOML_NAME = "dataset.toml"

#: ``format`` -> the ``datasets`` builder and its options. CSV keeps "NA"/"null" as text (no NaN guessing).
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    "csv": ("csv", {"keep_default_na": False}),
    "tsv": ("csv", {"delimiter": "\t", "keep_default_na": False}),
    "jsonl": ("json", {}),
    "parquet": ("parquet", {}),
}
CANONICAL_SPLITS = ("train", "valid", "test")
#: Split names in files that mean a canonical split unless ``[splits]`` says otherwise.
DEFAULT_SPLIT_ALIASES = {"validation": "valid", "dev": "valid"}

_TOP_KEYS = ("name", "format", "files", "hub", "config", "labels", "columns", "splits", "task")
_COLUMN_KEYS = ("text", "text_pair", "label", "id", "language", "split")
_TASK_KEYS = ("template", "verbalizers")


@dataclass(frozen=True)
class Columns:
    """Which column of the files holds what (``None``: the dataset has no such column)."""

    text: str
    label: str
    text_pair: str | None = None
    id: str | None = None
    language: str | None = None
    split: str | None = None

    def used(self) -> dict[str, str]:
        """``{toml key: column name}`` for every column the dataset reads."""
        return {k: v for k in _COLUMN_KEYS if (v := getattr(self, k)) is not None}


@dataclass(frozen=True)
class FolderConfig:
    """A parsed, checked ``dataset.toml``.

    Attributes:
        root: the folder (resolved); ``files`` patterns are relative to it.
        title: the toml's ``name``, for display.
        format: ``csv``, ``tsv``, ``jsonl`` or ``parquet`` (``""`` for a hub dataset).
        files: a pattern over ``{language}``/``{split}``, or one file; ``None`` with ``hub``.
        hub: a hub dataset id (or a local folder ``datasets.load_dataset`` reads); ``None`` with ``files``.
        config: the hub config name, a pattern over ``{language}`` (``None``: the default config).
        columns: the column map.
        labels: the label order (class ids).
        split_names: canonical split -> its name in the files or on the hub (``[splits]``).
        template: the prompt, over ``{text}`` (and ``{text_pair}``).
        verbalizers: ``(label, text)`` pairs in label order.
    """

    root: Path
    title: str
    format: str
    files: str | None
    hub: str | None
    config: str | None
    columns: Columns
    labels: tuple[str, ...]
    split_names: Mapping[str, str] = field(hash=False)
    template: str
    verbalizers: tuple[tuple[str, str], ...]

    @property
    def toml_path(self) -> Path:
        return self.root / TOML_NAME

    def canonical_split(self, name: str) -> str:
        """The canonical name of a split as the files (or the hub) name it: ``"dev"`` -> ``"valid"``."""
        name = str(name).strip()
        for canonical, given in self.split_names.items():
            if given == name:
                return canonical
        return DEFAULT_SPLIT_ALIASES.get(name.lower(), name.lower())

    def source_split(self, canonical: str) -> str:
        """The inverse of :meth:`canonical_split` for the ``{split}`` pattern: ``"valid"`` -> ``"dev"``."""
        return self.split_names.get(canonical, canonical)

    @property
    def layout(self) -> str:
        """One line on where the rows are, for messages."""
        if self.hub is not None:
            return f"hub dataset {self.hub!r}" + (f", config {self.config!r}" if self.config else "")
        return f"{self.format} files {self.files!r} under {self.root}"


def _fail(toml: Path, message: str) -> DataError:
    return DataError(f"{toml}: {message}")


def _check_keys(toml: Path, table: Mapping[str, Any], valid: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in valid:
            guess = closest(key, valid)
            hint = f" Did you mean {guess!r}?" if guess else ""
            raise _fail(toml, f"unknown key {key!r} in {where}; valid keys: {', '.join(valid)}.{hint}")


def _string(toml: Path, table: Mapping[str, Any], key: str, where: str, required: bool, example: str) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise _fail(toml, f"missing required key {key!r} in {where}; add e.g. {example}.")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(toml, f"{where} {key} must be a non-empty string, got {value!r}; e.g. {example}.")
    return value


def _table(toml: Path, data: Mapping[str, Any], key: str, required: bool, example: str) -> dict[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise _fail(toml, f"missing required table [{key}]; add e.g.\n{example}")
        return {}
    if not isinstance(value, dict):
        raise _fail(toml, f"{key} must be a table ([{key}]), got {value!r}.")
    return value


def placeholders(pattern: str) -> set[str]:
    """The ``{name}`` fields of a ``str.format`` pattern (a ``ValueError`` for unbalanced braces)."""
    return {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}


def check_prompt(toml: Path, template: str, pair: bool) -> None:
    """The template is a format string over ``{text}`` (and ``{text_pair}`` exactly when the data has pairs)."""
    try:
        fields = placeholders(template)
    except ValueError as exc:
        raise _fail(toml, f"[task] template {template!r} is not a valid format string ({exc}); write literal "
                          "braces as '{{' and '}}'.") from None
    if "text" not in fields:
        raise _fail(toml, f"[task] template {template!r} has no {{text}} placeholder, so the example text would "
                          "never reach the model; add {text}, e.g. template = \"Review: {text}\\nSentiment:\".")
    if pair and "text_pair" not in fields:
        raise _fail(toml, f"[task] template {template!r} has no {{text_pair}} placeholder although [columns] "
                          "text_pair is set; add {text_pair} (e.g. \"Premise: {text}\\nHypothesis: {text_pair}\").")
    unknown = sorted(fields - {"text", "text_pair"})
    if unknown:
        raise _fail(toml, f"[task] template {template!r} uses unknown placeholders {unknown}; only {{text}} and "
                          "{text_pair} are filled in.")


def _where_rows(
    toml: Path, data: Mapping[str, Any], columns: Columns
) -> tuple[str, str | None, str | None, str | None]:
    """``(format, files, hub, config)``, checking that language and split each come from exactly one place."""
    files = _string(toml, data, "files", "the top level", False, 'files = "{language}/{split}.csv"')
    hub = _string(toml, data, "hub", "the top level", False, 'hub = "org/name"')
    config = _string(toml, data, "config", "the top level", False, 'config = "{language}"')
    if (files is None) == (hub is None):
        raise _fail(toml, "give exactly one of 'files' (e.g. files = \"{language}/{split}.csv\") and 'hub' "
                          "(e.g. hub = \"org/name\").")
    fmt = ""
    if files is not None:
        fmt = _string(toml, data, "format", "the top level", True, 'format = "csv"') or ""
        if fmt not in FORMATS:
            guess = closest(fmt, FORMATS)
            hint = f" Did you mean {guess!r}?" if guess else ""
            raise _fail(toml, f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}.{hint}")
        if config is not None:
            raise _fail(toml, "'config' names a hub config; it only goes with 'hub', not with 'files'.")
        if Path(files).is_absolute() or ".." in Path(files).parts:
            raise _fail(toml, f"files = {files!r} must be relative to the dataset folder and stay inside it.")
        try:
            found = placeholders(files)
        except ValueError as exc:
            raise _fail(toml, f"files = {files!r} is not a valid pattern ({exc}).") from None
        unknown = sorted(found - {"language", "split"})
        if unknown:
            raise _fail(toml, f"files = {files!r} uses unknown placeholders {unknown}; only {{language}} and "
                              "{split} are filled in.")
        sources = {"language": found, "split": found}
    else:
        try:
            found = placeholders(config or "")
        except ValueError as exc:
            raise _fail(toml, f"config = {config!r} is not a valid pattern ({exc}).") from None
        if found - {"language"}:
            raise _fail(toml, f"config = {config!r} may only use the {{language}} placeholder.")
        if columns.split is not None:
            raise _fail(toml, "with 'hub', splits are the hub dataset's splits; remove [columns] split "
                              "(map names with [splits], e.g. valid = \"validation\").")
        sources = {"language": found, "split": {"split"}}
    what = "files" if files is not None else "config"
    for part in ("language", "split"):
        in_pattern, column = part in sources[part], getattr(columns, part)
        if in_pattern and column is not None:
            raise _fail(toml, f"the {part} is given twice: by {{{part}}} in {what} and by [columns] {part}; "
                              "keep one.")
        if not in_pattern and column is None:
            example = 'files = "{language}/{split}.csv"' if files is not None else 'config = "{language}"'
            raise _fail(toml, f"nothing says each row's {part}: put {{{part}}} in {what} (e.g. {example}) or "
                              f"name the column with [columns] {part} = \"...\".")
    return fmt, files, hub, config


def _task(toml: Path, data: Mapping[str, Any], pair: bool) -> tuple[str, dict[str, str], tuple[str, ...]]:
    example = '[task]\ntemplate = "Review: {text}\\nSentiment:"\n[task.verbalizers]\nbad = " bad"\ngood = " good"'
    task = _table(toml, data, "task", True, example)
    _check_keys(toml, task, _TASK_KEYS, "[task]")
    template = _string(toml, task, "template", "[task]", True, 'template = "Review: {text}\\nSentiment:"') or ""
    check_prompt(toml, template, pair)
    verbalizers = task.get("verbalizers")
    if not isinstance(verbalizers, dict) or len(verbalizers) < 2:
        raise _fail(toml, f"[task.verbalizers] must map every label to its text (at least two), e.g.\n{example}")
    for label, text in verbalizers.items():
        if not isinstance(text, str) or not text.strip():
            raise _fail(toml, f"[task.verbalizers] {label} must be a non-empty string such as \" {label}\", "
                              f"got {text!r}.")
    labels = data.get("labels")
    if labels is None:
        return template, verbalizers, tuple(verbalizers)
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels) or len(set(labels)) != len(labels):
        raise _fail(toml, f"labels must be a list of distinct strings (the label order), got {labels!r}.")
    if set(labels) != set(verbalizers):
        raise _fail(toml, f"labels {labels} and [task.verbalizers] {sorted(verbalizers)} must name the same labels; "
                          "give every label one verbalizer.")
    return template, verbalizers, tuple(labels)


def parse_config(root: Path) -> FolderConfig:
    """Read and check ``root/dataset.toml`` (``root`` resolved); every problem is a :class:`DataError`."""
    toml = root / TOML_NAME
    if not toml.is_file():
        found = sorted(p.name for p in root.iterdir())[:10] if root.is_dir() else None
        where = f"it contains {found or 'nothing'}" if found is not None else "the folder does not exist"
        raise DataError(f"No {TOML_NAME} in {root} ({where}). A dataset folder needs a {TOML_NAME} that names "
                        "its files, columns and task; see 'Your own dataset' in the README.")
    try:
        data = tomllib.loads(toml.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _fail(toml, f"not valid TOML ({exc}); check the quoting (strings need \"...\").") from None
    _check_keys(toml, data, _TOP_KEYS, "the top level")
    title = _string(toml, data, "name", "the top level", True, 'name = "my-reviews"') or ""
    cols = _table(toml, data, "columns", True, '[columns]\ntext = "review"\nlabel = "stars"')
    _check_keys(toml, cols, _COLUMN_KEYS, "[columns]")
    names = {k: _string(toml, cols, k, "[columns]", k in ("text", "label"), f'{k} = "{k}"') for k in _COLUMN_KEYS}
    columns = Columns(**names)  # type: ignore[arg-type]
    fmt, files, hub, config = _where_rows(toml, data, columns)
    splits = _table(toml, data, "splits", False, "")
    _check_keys(toml, splits, CANONICAL_SPLITS, "[splits] (canonical split -> its name in the files)")
    for key, value in splits.items():
        _string(toml, splits, key, "[splits]", True, f'{key} = "dev"')
    template, verbalizers, labels = _task(toml, data, columns.text_pair is not None)
    return FolderConfig(
        root=root, title=title, format=fmt, files=files, hub=hub, config=config, columns=columns, labels=labels,
        split_names=dict(splits), template=template,
        verbalizers=tuple((label, verbalizers[label]) for label in labels),
    )


__all__ = ["CANONICAL_SPLITS", "Columns", "FORMATS", "FolderConfig", "TOML_NAME", "check_prompt", "parse_config",
           "placeholders"]
