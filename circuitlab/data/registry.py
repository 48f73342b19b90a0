"""Which datasets exist, where their files are, and one entry point to load any of them.

A dataset is found in this order: an explicit ``data_dir`` argument, else the
dataset's environment variable (``CIRCUITLAB_NUSAX_DIR``, ``CIRCUITLAB_XNLI_DIR``),
else the Hugging Face hub (cached by ``datasets``; offline, set ``HF_HUB_OFFLINE=1``
so the failed hub attempt is immediate instead of retried). Nothing is guessed from the
working directory: :func:`find_local_data_dir` exists for callers (a CLI, a
notebook) that want to probe candidate folders explicitly.

The loaders themselves live in :mod:`circuitlab.data.nusax` and
:mod:`circuitlab.data.xnli`; the helpers here (resolving a folder, the hub
fallback, joining parallel languages) are shared by both.

Any other dataset is a folder with a ``dataset.toml`` (:mod:`circuitlab.data.folder`):
wherever a dataset name is accepted, so is the path of such a folder (or of its
``dataset.toml``). A registered name always means the registered dataset; anything
else is a path if it contains a path separator, starts with ``.`` or ``~``, or names
an existing file or folder (:func:`~circuitlab.data.folder.is_dataset_path`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from circuitlab.data.errors import DataError, check_choice
from circuitlab.data.types import Example

PathLike = str | os.PathLike


@dataclass(frozen=True)
class DatasetSpec:
    """What the rest of the toolkit needs to know about one dataset.

    Attributes:
        name: registry key, e.g. ``"nusax"``; for a dataset folder its resolved path.
        languages: every language the dataset defines (local copy or not).
        labels: the label strings, in the order of the hub's integer ids.
        splits: canonical split names.
        loader: ``loader(language, split, data_dir=None) -> list[Example]``.
        env_var: environment variable naming a local copy.
        default_relative_dir: where the dataset sits under a shared data root
            (``<root>/data/<name>``); used only by :func:`find_local_data_dir`.
        find_root: maps a user-given folder to the folder the loader reads
            from, or ``None`` if it does not look like this dataset.
        has_local: ``has_local(root, language, split_or_None) -> bool``.
        layout: one line describing the expected files, for error messages.
        title: the dataset's usual spelling, for messages (``"NusaX"``; a folder's toml ``name``).
        language_aliases: other accepted spellings -> canonical language (``"jav"`` -> ``"javanese"``).
        template: the dataset's own prompt (folder datasets; else see :mod:`circuitlab.tasks.templates`).
        verbalizers: its own ``(label, verbalizer)`` pairs, in label order (folder datasets).
        folder: the dataset folder (folder datasets), else ``None``.
    """

    name: str
    languages: tuple[str, ...]
    labels: tuple[str, ...]
    splits: tuple[str, ...]
    loader: Callable[..., list[Example]]
    env_var: str
    default_relative_dir: str
    find_root: Callable[[Path], Path | None] | None = None
    has_local: Callable[[Path, str, str | None], bool] | None = None
    layout: str = ""
    title: str = ""
    language_aliases: Mapping[str, str] = field(default_factory=dict, hash=False)
    template: str = ""
    verbalizers: tuple[tuple[str, str], ...] = ()
    folder: Path | None = None

    @property
    def display(self) -> str:
        """Human-readable name for messages, e.g. ``"NusaX"``."""
        return self.title or self.name

    def canonical_language(self, language: str) -> str:
        """The dataset's name for ``language`` (aliases accepted), else a ``DataError`` listing the languages."""
        hint = f"Its languages are read from {self.layout}." if self.folder is not None else ""
        return check_choice("language", language, self.languages, aliases=self.language_aliases,
                            dataset=self.display, hint=hint)


@cache
def _registry() -> dict[str, DatasetSpec]:
    # Imported here: the loader modules import the helpers below.
    from circuitlab.data import nusax, xnli

    return {spec.name: spec for spec in (nusax.SPEC, xnli.SPEC)}


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    return sorted(_registry())


def get_dataset(name: PathLike) -> DatasetSpec:
    """The :class:`DatasetSpec` called ``name`` (case-insensitive), or of the dataset folder at path ``name``."""
    from circuitlab.data.folder import folder_dataset, is_dataset_path

    key = str(name).strip()
    if key.lower() in _registry():
        return _registry()[key.lower()]
    if is_dataset_path(key):
        return folder_dataset(key)
    hint = "Or give the path of a dataset folder (with dataset.toml), e.g. ./my-data."
    return _registry()[check_choice("dataset", key, list_datasets(), hint=hint)]


def load_examples(
    dataset: PathLike, language: str, split: str, data_dir: PathLike | None = None
) -> list[Example]:
    """Load ``language``/``split`` of any dataset, registered or a folder (dispatches to its loader).

    A folder dataset is its own data: ``data_dir`` is not used for it.
    """
    return get_dataset(dataset).loader(language, split, data_dir=data_dir)


def default_data_dir(dataset: str) -> Path | None:
    """The folder named by the dataset's environment variable, or ``None`` if unset.

    Deliberately no guessing from the working directory; see :func:`find_local_data_dir`.
    """
    value = os.environ.get(get_dataset(dataset).env_var, "").strip()
    return Path(value).expanduser() if value else None


def find_local_data_dir(name: str, candidates: Iterable[PathLike]) -> Path | None:
    """The first candidate that holds dataset ``name``, or ``None``.

    Each candidate ``c`` is tried as ``c``, ``c/<name>`` and
    ``c/<default_relative_dir>``, so a dataset folder, a ``data/`` folder and a
    shared root (``../shared``) all work. Use it to build an explicit ``data_dir``.
    """
    spec = get_dataset(name)
    for candidate in candidates:
        base = Path(candidate).expanduser()
        for path in (base, base / spec.name, base / spec.default_relative_dir):
            if path.is_dir() and spec.find_root is not None and spec.find_root(path) is not None:
                return path
    return None


def find_data(name: str = "nusax", candidates: Iterable[PathLike] | None = None) -> Path | None:
    """A local copy of dataset ``name``: ``$CIRCUITLAB_<NAME>_DIR``, else the first candidate holding it.

    A dataset folder is its own local copy. Default candidates: ``./data`` and ``../shared/data``
    (from the working directory), then
    ``data/`` and ``../shared/data`` beside this checkout, so that a fresh clone with the data
    beside it works from any folder. ``None``: no local copy (the hub will be tried).
    """
    spec = get_dataset(name)
    if spec.folder is not None:
        return spec.folder
    env = os.environ.get(spec.env_var, "").strip()
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    cands = candidates if candidates is not None else [
        Path.cwd() / "data", Path.cwd().parent / "shared" / "data", repo / "data", repo.parent / "shared" / "data",
    ]
    return find_local_data_dir(name, cands)


def available_languages(
    name: str, data_dir: PathLike | None = None, split: str | None = None
) -> dict[str, bool]:
    """For every language of dataset ``name``: does a local copy hold it?

    The local copy is ``data_dir`` or the dataset's environment variable; with
    neither, every language is ``False`` (the hub is never contacted here). With
    ``split`` only that split counts; without it, any split does. A dataset folder holds every
    language it defines (with ``split``: those that have that split).
    """
    spec = get_dataset(name)
    if spec.folder is not None and spec.has_local is not None:
        return {language: spec.has_local(spec.folder, language, split) for language in spec.languages}
    root, _ = resolve_local_root(spec, data_dir)
    if root is None or spec.has_local is None:
        return {language: False for language in spec.languages}
    return {language: spec.has_local(root, language, split) for language in spec.languages}


# -- helpers shared by the loaders -------------------------------------------------


def resolve_local_root(spec: DatasetSpec, data_dir: PathLike | None) -> tuple[Path | None, list[str]]:
    """The local folder to read ``spec`` from, plus a note of where we looked.

    Returns ``(None, notes)`` when neither ``data_dir`` nor the environment
    variable is given. A given folder that is missing or does not look like the
    dataset is an error right away: a typo must not silently fall back to the hub.
    """
    env_value = os.environ.get(spec.env_var, "").strip()
    if data_dir is not None:
        source, path = "data_dir argument", Path(data_dir).expanduser()
        notes = [f"${spec.env_var}: not consulted because data_dir was given"]
    elif env_value:
        source, path = f"${spec.env_var}", Path(env_value).expanduser()
        notes = ["data_dir argument: not given"]
    else:
        return None, ["data_dir argument: not given", f"${spec.env_var}: not set"]
    fix = f"Pass the right folder as data_dir=..., or set {spec.env_var}, or unset both to use the hub."
    if not path.is_dir():
        raise DataError(f"{spec.display}: the {source} {str(path)!r} is not an existing folder. {fix}")
    root = spec.find_root(path) if spec.find_root is not None else path
    if root is None:
        found = sorted(p.name for p in path.iterdir())[:10]
        nearby = [p for p in (path / spec.name, path.parent) if spec.find_root and spec.find_root(p)]
        guess = f" Did you mean {str(nearby[0])!r}?" if nearby else ""
        raise DataError(
            f"{spec.display}: the {source} {str(path)!r} does not look like {spec.display} data "
            f"(it contains {found or 'nothing'}). Expected {spec.layout}.{guess} {fix}"
        )
    return root, [f"{source}: {path}", *notes]


def load_hub_rows(repo: str, config: str, split: str) -> list[dict[str, Any]]:
    """Rows of a hub dataset via ``datasets.load_dataset`` (which caches them).

    Repos that still ship a loading script (which ``datasets`` >= 4 refuses to
    run) are read from the hub's Parquet export (``refs/convert/parquet``)
    instead. Raises ``RuntimeError`` with the underlying reason; loaders turn it
    into a ``DataError`` that lists every place they looked.
    """
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise RuntimeError("the 'datasets' package is not installed (pip install datasets)") from exc
    try:
        try:
            return list(datasets.load_dataset(repo, config, split=split))
        except RuntimeError as exc:
            if "scripts are no longer supported" not in str(exc):
                raise
            return list(datasets.load_dataset(repo, data_dir=config, revision="refs/convert/parquet", split=split))
    except Exception as exc:  # offline, unknown config, hub error: all mean "not there"
        raise RuntimeError(f"{type(exc).__name__}: {exc}") from exc


def no_data_error(spec: DatasetSpec, language: str, split: str, looked: Sequence[str]) -> DataError:
    """The error for a known language/split that no source could provide."""
    places = "\n".join(f"  - {line}" for line in looked)
    return DataError(
        f"No {spec.display} data for language {language!r}, split {split!r}. Looked in:\n{places}\n"
        f"Fix: put the files in a local copy ({spec.layout}) and pass data_dir=... or set "
        f"{spec.env_var}; or make the Hugging Face hub reachable (network, HF_DATASETS_OFFLINE unset)."
    )


def join_parallel(
    per_language: Mapping[str, Sequence[Example]],
    columns: Callable[[str, Example], dict[str, str]],
    dataset: str,
) -> pd.DataFrame:
    """One row per id present in every language: ``columns(lang, ex)`` plus ``label``.

    Row order follows the first language. Raises a ``DataError`` if an id's label
    differs between languages (the files are then not parallel).
    """
    languages = list(per_language)
    by_id = {lang: {ex.id: ex for ex in per_language[lang]} for lang in languages}
    shared = set.intersection(*(set(ids) for ids in by_id.values()))
    rows, index = [], []
    for ex in per_language[languages[0]]:
        if ex.id not in shared:
            continue
        labels = {lang: by_id[lang][ex.id].label for lang in languages}
        if len(set(labels.values())) > 1:
            raise DataError(
                f"{dataset}: id {ex.id!r} has different labels across languages {labels}; "
                "the files are not parallel. Check that every language comes from the same release."
            )
        row: dict[str, str] = {}
        for lang in languages:
            row.update(columns(lang, by_id[lang][ex.id]))
        row["label"] = ex.label
        rows.append(row)
        index.append(ex.id)
    if not rows:
        raise DataError(f"{dataset}: languages {languages} share no ids; the files are not parallel.")
    return pd.DataFrame(rows, index=pd.Index(index, name="id"))


def check_languages(spec: DatasetSpec, languages: Sequence[str] | str, canon: Callable[[str], str]) -> list[str]:
    """Canonical, duplicate-free language list for a parallel load."""
    if isinstance(languages, str):
        languages = [languages]
    names = [canon(language) for language in languages]
    if not names:
        raise DataError(f"{spec.display}: give at least one language, e.g. {list(spec.languages[:2])}.")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"{spec.display}: languages {dupes} are listed more than once; list each once.")
    return names
