"""Bring your own dataset: a folder with a ``dataset.toml`` is a dataset, named by its path.

Context
-------
:mod:`circuitlab.data.folder_config` parses the ``dataset.toml``;
:mod:`circuitlab.data.folder_rows` reads the files it points at through
``datasets.load_dataset``; this module checks every row and presents the folder as
a :class:`~circuitlab.data.registry.DatasetSpec` whose ``name`` is the folder's
resolved path, so the dataset round-trips wherever a dataset name is stored
(spec files, run folders, results rows).

Intuition
---------
The files are *units* (one file, or one split of a hub config). A unit knows its
language and split from the ``files`` pattern (or the hub config and split), or
leaves them to the ``[columns]``; the *index* maps each ``(language, split)`` to
the units that hold its rows. Languages and splits are what the index finds.

How a name becomes a path: see :func:`is_dataset_path`. Parsed folders are cached
on the path and the modification times and sizes of ``dataset.toml`` and the data
files, so an edited folder is re-read.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from circuitlab.data.errors import DataError, check_choice
from circuitlab.data.folder_config import CANONICAL_SPLITS, DEFAULT_SPLIT_ALIASES, TOML_NAME, FolderConfig, parse_config
from circuitlab.data.folder_rows import Unit, cell_text, rows_of, stamp, stamps_of, units_of
from circuitlab.data.registry import DatasetSpec, PathLike, check_languages, join_parallel
from circuitlab.data.types import Example


def is_dataset_path(name: PathLike) -> bool:
    """Whether a dataset name (that is not a registered one) means a folder.

    The rule: it contains a path separator, starts with ``.`` or ``~``, or names an existing
    file or folder. So ``./reviews``, ``data/reviews``, ``~/reviews/dataset.toml`` and an
    existing ``reviews`` folder are paths; ``nusax`` and ``xnli`` are always the registered datasets.
    """
    text = str(name).strip()
    if not text:
        return False
    return "/" in text or os.sep in text or text.startswith((".", "~")) or Path(text).expanduser().exists()


def dataset_root(name: PathLike) -> Path:
    """The resolved folder of a dataset path (the folder itself, or its ``dataset.toml``)."""
    path = Path(str(name).strip()).expanduser()
    if path.is_file():
        if path.name != TOML_NAME:
            raise DataError(f"{path} is a file, not a dataset folder; give the folder that holds {TOML_NAME} "
                            f"(or the {TOML_NAME} itself).")
        path = path.parent
    if not path.is_dir():
        raise DataError(f"No dataset folder at {str(path)!r} (relative paths are from {Path.cwd()}). Give a folder "
                        f"with a {TOML_NAME}, or a registered dataset: nusax, xnli.")
    return path.resolve()


@functools.lru_cache(maxsize=64)
def _config(root: Path, stamp: tuple[int, int]) -> FolderConfig:
    return parse_config(root)


def _coords(cfg: FolderConfig, unit: Unit, row: dict[str, Any], number: int) -> tuple[str, str]:
    language = unit.language if unit.language is not None else cell_text(row[cfg.columns.language])
    split = unit.split if unit.split is not None else cfg.canonical_split(cell_text(row[cfg.columns.split]))
    if not language or not split:
        what = "language" if not language else "split"
        raise DataError(f"{cfg.title}: {unit.describe()}, row {number} has an empty {what} (column "
                        f"{getattr(cfg.columns, what)!r}); fill it in or delete the row.")
    return language, split


@functools.lru_cache(maxsize=64)
def _index(cfg: FolderConfig, units: tuple[Unit, ...], stamps: tuple[Any, ...]) -> dict[tuple[str, str], list[Unit]]:
    """``(language, canonical split) -> units holding its rows`` (``stamps``: the files' state, for the cache)."""
    out: dict[tuple[str, str], list[Unit]] = {}
    for unit in units:
        if unit.language is not None and unit.split is not None:
            keys = [(unit.language, unit.split)]
        else:
            keys = list(dict.fromkeys(_coords(cfg, unit, row, n) for n, row in enumerate(rows_of(cfg, unit), 1)))
        for key in keys:
            out.setdefault(key, []).append(unit)
    return out


def _order_splits(splits: set[str]) -> tuple[str, ...]:
    return tuple(s for s in CANONICAL_SPLITS if s in splits) + tuple(sorted(splits - set(CANONICAL_SPLITS)))


@functools.lru_cache(maxsize=64)
def _spec(cfg: FolderConfig, units: tuple[Unit, ...], stamps: tuple[Any, ...]) -> DatasetSpec:
    index = _index(cfg, units, stamps)
    languages = tuple(sorted({language for language, _ in index}))
    name = str(cfg.root)

    def has_local(_root: Path, language: str, split: str | None) -> bool:
        wanted = None if split is None else cfg.canonical_split(split)
        return any(lang == language and (wanted is None or s == wanted) for lang, s in index)

    return DatasetSpec(
        name=name, languages=languages, labels=cfg.labels, splits=_order_splits({s for _, s in index}),
        loader=functools.partial(load_folder, name), env_var="", default_relative_dir="", has_local=has_local,
        layout=cfg.layout, title=cfg.title, language_aliases={x.lower(): x for x in languages if x != x.lower()},
        template=cfg.template, verbalizers=cfg.verbalizers, folder=cfg.root,
    )


def _state(name: PathLike) -> tuple[FolderConfig, tuple[Unit, ...], tuple[Any, ...]]:
    root = dataset_root(name)
    toml = root / TOML_NAME
    cfg = _config(root, stamp(toml) if toml.is_file() else (0, 0))
    units = units_of(cfg)
    return cfg, units, stamps_of(units)


def folder_dataset(name: PathLike) -> DatasetSpec:
    """The :class:`DatasetSpec` of a dataset folder (or its ``dataset.toml``); ``name`` is the resolved path."""
    return _spec(*_state(name))


def folder_config(name: PathLike) -> FolderConfig:
    """The parsed ``dataset.toml`` of a dataset folder."""
    return _state(name)[0]


def load_folder(dataset: PathLike, language: str, split: str, data_dir: PathLike | None = None) -> list[Example]:
    """One language's split of a folder dataset, in file order, every row checked.

    ``data_dir`` is not used: the folder is the data. An example's ``id`` is the ``[columns] id``
    value, else its row index within the split (``"0"``, ``"1"``, ...).
    """
    cfg, units, stamps = _state(dataset)
    spec, index = _spec(cfg, units, stamps), _index(cfg, units, stamps)
    language = spec.canonical_language(language)
    aliases = DEFAULT_SPLIT_ALIASES | {given.lower(): canonical for canonical, given in cfg.split_names.items()}
    split = check_choice("split", split, spec.splits, aliases=aliases, dataset=spec.display,
                         hint=f"The splits are read from {cfg.layout}.")
    has = [s for s in spec.splits if (language, s) in index]
    if split not in has:
        raise DataError(f"{spec.display}: language {language!r} has no {split!r} split; it has {has}. "
                        f"Add its rows ({cfg.layout}) or choose one of {has}.")
    c = cfg.columns
    examples: list[Example] = []
    seen: set[str] = set()
    for unit in index[(language, split)]:
        for number, row in enumerate(rows_of(cfg, unit), start=1):
            if _coords(cfg, unit, row, number) != (language, split):
                continue
            where = f"{spec.display}: {unit.describe()}, row {number}"
            text, label = cell_text(row[c.text]), cell_text(row[c.label])
            if not text:
                raise DataError(f"{where} has an empty text (column {c.text!r}); fill it in or delete the row.")
            pair = cell_text(row[c.text_pair]) if c.text_pair else None
            if c.text_pair and not pair:
                raise DataError(f"{where} has an empty text_pair (column {c.text_pair!r}); fill it in or delete "
                                "the row.")
            if label not in cfg.labels:
                raise DataError(f"{where} has label {label!r} (column {c.label!r}), which is not one of the known "
                                f"labels {list(cfg.labels)}. Fix the row, or add the label to [task.verbalizers] "
                                f"(and labels) in {cfg.toml_path}.")
            ex_id = cell_text(row[c.id]) if c.id else str(len(examples))
            if not ex_id or ex_id in seen:
                problem = "an empty id" if not ex_id else f"id {ex_id!r} again"
                raise DataError(f"{where} has {problem} (column {c.id!r}); ids must be unique within a language's "
                                "split, and the same sentence has the same id in every language.")
            seen.add(ex_id)
            examples.append(Example(id=ex_id, text=text, label=label, language=language, text_pair=pair))
    if not examples:
        raise DataError(f"{spec.display}: the {split!r} split of {language!r} has no rows "
                        f"({', '.join(u.describe() for u in index[(language, split)])}). "
                        "Add rows, or remove the empty file.")
    return examples


def load_folder_parallel(dataset: PathLike, languages: Sequence[str] | str, split: str) -> pd.DataFrame:
    """Parallel rows of a folder dataset: index ``id``; one text column per language (``<lang>``), or
    ``<lang>_text`` and ``<lang>_text_pair`` for sentence pairs; ``label``.

    Rows are matched by ``[columns] id`` (by row index without one); only ids present in every
    language are kept, and a label that differs between languages is a ``DataError``.
    """
    spec = folder_dataset(dataset)
    names = check_languages(spec, languages, spec.canonical_language)
    per_language = {name: spec.loader(name, split) for name in names}
    if folder_config(dataset).columns.text_pair is not None:
        return join_parallel(per_language, lambda lang, ex: {f"{lang}_text": ex.text,
                                                             f"{lang}_text_pair": ex.text_pair or ""}, spec.display)
    return join_parallel(per_language, lambda lang, ex: {lang: ex.text}, spec.display)


@functools.lru_cache(maxsize=64)
def _sha256(cfg: FolderConfig, units: tuple[Unit, ...], stamps: tuple[Any, ...]) -> str:
    digest = hashlib.sha256(cfg.toml_path.read_bytes())
    for unit in units:
        if unit.on_hub:
            digest.update(f"\0hub:{unit.path}:{unit.config}:{unit.hub_split}".encode())
        else:
            digest.update(f"\0{Path(unit.path).relative_to(cfg.root).as_posix()}\0".encode())
            digest.update(Path(unit.path).read_bytes())
    return digest.hexdigest()


def dataset_sha256(name: PathLike) -> str:
    """sha256 of a dataset folder's ``dataset.toml`` and data files (their paths in the folder and bytes).

    A hub dataset counts by its name, config and split names only (its content is the hub's).
    """
    return _sha256(*_state(name))


__all__ = ["Unit", "dataset_root", "dataset_sha256", "folder_config", "folder_dataset", "is_dataset_path",
           "load_folder", "load_folder_parallel"]
