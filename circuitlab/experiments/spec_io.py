"""Spec files and flags: reading ``.toml`` / ``.yaml`` / ``.json``, ``--set FIELD=VALUE``, writing TOML.

Everything here works on plain nested dicts; :func:`load_spec` hands them to
:func:`circuitlab.experiments.spec.spec_from_dict` for validation. The names are
re-exported by :mod:`circuitlab.experiments.spec`.
"""

from __future__ import annotations

import json
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from circuitlab.experiments.spec_types import SpecError, did_you_mean

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from circuitlab.experiments.spec import ExperimentSpec

#: File formats a spec can be written in.
KNOWN_SPEC_SUFFIXES = (".toml", ".yaml", ".yml", ".json")


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The raw nested dict of a ``.toml`` / ``.yaml`` / ``.json`` spec file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No spec file at {path}; see examples/*.toml for templates.")
    suffix = path.suffix.lower()
    text = path.read_text()
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError("", f"not valid TOML: {exc}", str(path)) from None
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SpecError("", "YAML specs need PyYAML (pip install pyyaml); or write the spec as TOML.",
                            str(path)) from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise SpecError("", f"not valid YAML: {exc}", str(path)) from None
        return data
    if suffix == ".json":
        return json.loads(text)
    raise SpecError("", f"unknown spec format {suffix!r}; use one of {', '.join(KNOWN_SPEC_SUFFIXES)}.", str(path))


def load_spec(path: str | Path, overrides: Mapping[str, Any] | None = None, *,
              check_files: bool = True) -> "ExperimentSpec":
    """Read, apply dotted ``overrides`` (``{"runtime.executor": "ray"}``) and validate a spec file."""
    from circuitlab.experiments.spec import spec_from_dict

    data = read_spec_file(path)
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    return spec_from_dict(data, source=str(path), check_files=check_files)


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """``set_dotted(d, "tuning.lr", 1e-4)`` sets ``d["tuning"]["lr"]``, making tables on the way."""
    parts = dotted.split(".")
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise SpecError(dotted, f"{p!r} is not a table, cannot set {dotted!r}.")
    node[parts[-1]] = value


def _open_tables() -> list[str]:
    """Dotted paths of the free-form table fields (``tuning.options``), whose keys ``--set`` may name."""
    from circuitlab.experiments.spec import ExperimentSpec

    out = [name for name, info in ExperimentSpec.model_fields.items() if typing.get_origin(info.annotation) is dict]
    for section, info in ExperimentSpec.model_fields.items():
        fields = getattr(info.annotation, "model_fields", {})
        out += [f"{section}.{n}" for n, f in fields.items() if typing.get_origin(f.annotation) is dict]
    return out


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"tuning.lr=1e-4"`` -> ``("tuning.lr", 1e-4)``; the value is read as TOML, else kept as a string."""
    from circuitlab.experiments.spec import field_help

    if "=" not in text:
        raise SpecError("", f"--set expects FIELD=VALUE (e.g. tuning.lr=1e-4 or grid.seeds=[31,777]), got {text!r}.")
    key, raw = (s.strip() for s in text.split("=", 1))
    fields = field_help()
    if key not in fields and not any(key.startswith(p + ".") for p in _open_tables()):
        raise SpecError(key, f"no such spec field.{did_you_mean(key, fields)}")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def dump_toml(data: Mapping[str, Any]) -> str:
    """A small TOML writer for resolved specs (tables, scalars, lists, inline tables; ``None`` is omitted)."""

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        if isinstance(v, Mapping):
            return "{" + ", ".join(f"{_key(k)} = {scalar(x)}" for k, x in v.items() if x is not None) + "}"
        raise TypeError(f"cannot write {v!r} as TOML")

    def _key(k: str) -> str:
        return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)

    lines: list[str] = []
    tables = []
    for k, v in data.items():
        if isinstance(v, Mapping) and k not in ("backend_options",):
            tables.append((k, v))
        elif v is not None:
            lines.append(f"{_key(k)} = {scalar(v)}")
    for k, v in tables:
        lines.append(f"\n[{k}]")
        for kk, vv in v.items():
            if vv is not None:
                lines.append(f"{_key(kk)} = {scalar(vv)}")
    return "\n".join(lines) + "\n"


__all__ = ["KNOWN_SPEC_SUFFIXES", "dump_toml", "load_spec", "parse_assignment", "read_spec_file", "set_dotted"]
