"""The rows of a dataset folder: its files (or hub splits) as *units*, read through ``datasets``.

A unit is one table ``datasets.load_dataset`` reads: a data file (builder ``csv``,
``json`` or ``parquet``, from ``format``) or one split of a hub config. A unit knows
its language and split from the ``files`` pattern (or the hub config and split
name), or leaves them to the ``[columns]``. Rows are read once per file state
(modification time and size) and checked for the columns ``[columns]`` names.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from circuitlab.data.errors import DataError
from circuitlab.data.folder_config import FORMATS, FolderConfig, placeholders

@dataclass(frozen=True)
class Unit:
    """One table ``datasets.load_dataset`` reads: a data file, or one split of a hub config.

    ``language`` / ``split`` (canonical) are ``None`` when the rows' columns give them.
    """

    path: str
    language: str | None
    split: str | None
    config: str | None = None
    hub_split: str | None = None

    @property
    def on_hub(self) -> bool:
        return self.hub_split is not None

    def describe(self) -> str:
        if self.on_hub:
            return f"hub dataset {self.path} (config {self.config!r}, split {self.hub_split!r})"
        return self.path


def stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """``"{language}/{split}.csv"`` -> a regex whose groups capture the placeholders."""
    out, seen = "", set()
    for literal, name, _, _ in string.Formatter().parse(pattern):
        out += re.escape(literal)
        if name is not None:
            out += f"(?P={name})" if name in seen else f"(?P<{name}>[^/]+)"
            seen.add(name)
    return re.compile(out)


@contextmanager
def _quiet() -> Iterator[Any]:
    """``datasets`` without its per-file progress bars (restored afterwards)."""
    import datasets

    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield datasets
    finally:
        if was:
            datasets.enable_progress_bars()


def _file_units(cfg: FolderConfig) -> list[Unit]:
    assert cfg.files is not None
    if not placeholders(cfg.files):
        path = cfg.root / cfg.files
        if not path.is_file():
            raise DataError(f"{cfg.toml_path}: files = {cfg.files!r}, but there is no file {path}; fix the name "
                            "or put the file there.")
        return [Unit(str(path), None, None)]
    regex = pattern_regex(cfg.files)
    units = []
    for path in sorted(cfg.root.glob(cfg.files.format(language="*", split="*"))):
        match = regex.fullmatch(path.relative_to(cfg.root).as_posix())
        if match and path.is_file():
            coords = match.groupdict()
            split = coords.get("split")
            units.append(Unit(str(path), coords.get("language"), None if split is None else cfg.canonical_split(split)))
    if not units:
        found = sorted(p.relative_to(cfg.root).as_posix() for p in cfg.root.rglob("*") if p.is_file())[:10]
        raise DataError(f"{cfg.toml_path}: no file matches files = {cfg.files!r} under {cfg.root} (it has "
                        f"{found}). Fix the pattern, e.g. files = \"{{language}}/{{split}}.csv\" for jv/train.csv.")
    return units


@functools.lru_cache(maxsize=16)
def _hub_units(cfg: FolderConfig) -> tuple[Unit, ...]:
    assert cfg.hub is not None
    try:
        with _quiet() as datasets:
            if cfg.config and "language" in placeholders(cfg.config):
                regex = pattern_regex(cfg.config)
                names = datasets.get_dataset_config_names(cfg.hub)
                configs = [(n, m["language"]) for n in names if (m := regex.fullmatch(n))]
                if not configs:
                    raise DataError(f"{cfg.toml_path}: no config of hub dataset {cfg.hub!r} matches config = "
                                    f"{cfg.config!r}; its configs are {names}.")
            else:
                configs = [(cfg.config, None)]
            return tuple(Unit(cfg.hub, language, cfg.canonical_split(s), config, s) for config, language in configs
                         for s in datasets.get_dataset_split_names(cfg.hub, config))
    except DataError:
        raise
    except Exception as exc:  # offline, unknown repo or config: all mean "cannot be read from here"
        raise DataError(f"{cfg.toml_path}: cannot list hub dataset {cfg.hub!r} ({type(exc).__name__}: {exc}). "
                        "Check the name and config, or make the hub reachable (network, HF_DATASETS_OFFLINE unset)."
                        ) from None


def units_of(cfg: FolderConfig) -> tuple[Unit, ...]:
    return _hub_units(cfg) if cfg.hub is not None else tuple(_file_units(cfg))


def stamps_of(units: Sequence[Unit]) -> tuple[tuple[int, int] | None, ...]:
    return tuple(None if u.on_hub else stamp(Path(u.path)) for u in units)


def _no_rows(fmt: str, path: Path) -> bool:
    """Whether a data file holds no rows (a CSV/TSV header alone, a blank JSONL, a Parquet file of 0 rows)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows == 0
        except Exception:  # not Parquet: let the reader say so
            return False
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return lines <= (1 if fmt in ("csv", "tsv") else 0)


@functools.lru_cache(maxsize=64)
def _read(cfg: FolderConfig, unit: Unit, state: tuple[int, int] | None) -> tuple[dict[str, Any], ...]:
    """The rows of one unit (``state``: the file's, for the cache), checked for the ``[columns]``."""
    if not unit.on_hub and _no_rows(cfg.format, Path(unit.path)):
        return ()  # ``datasets`` fails on a table without rows; an empty split is reported by its reader
    try:
        with _quiet() as datasets:
            if unit.on_hub:
                table = datasets.load_dataset(unit.path, unit.config, split=unit.hub_split)
            else:
                builder, options = FORMATS[cfg.format]
                table = datasets.load_dataset(builder, data_files=unit.path, split="train", **options)
    except Exception as exc:
        raise DataError(f"{cfg.title}: cannot read {unit.describe()} ({type(exc).__name__}: {exc}). Check that it "
                        f"is valid {cfg.format or 'data'} (format = {cfg.format!r} in {cfg.toml_path}).") from None
    have = list(table.column_names)
    missing = {k: c for k, c in cfg.columns.used().items() if c not in have}
    if missing:
        named = ", ".join(f"{k} = {c!r}" for k, c in missing.items())
        raise DataError(f"{cfg.title}: {unit.describe()} has no column for [columns] {named} (in {cfg.toml_path}); "
                        f"its columns are {have}. Name one of these in [columns].")
    return tuple(table.to_list())


def rows_of(cfg: FolderConfig, unit: Unit) -> tuple[dict[str, Any], ...]:
    return _read(cfg, unit, None if unit.on_hub else stamp(Path(unit.path)))


def cell_text(value: Any) -> str:
    """A value as text: ``None`` -> ``""``, ``1`` and ``1.0`` -> ``"1"``, strings stripped."""
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


__all__ = ["Unit", "cell_text", "pattern_regex", "rows_of", "stamp", "stamps_of", "units_of"]
