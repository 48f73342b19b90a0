"""Shared CLI plumbing: turning library errors into one clear line and exit code 2."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from circuitlab.errors import UserError

# Errors that are the user's to fix: print the message, no traceback. Everything else is a bug and
# keeps its traceback (DataError, TaskError, ModelLoadError, SpecError ... are UserErrors).
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError, FileExistsError)


def cli_errors(fn: Callable) -> Callable:
    """Run a command, printing ``error: <message>`` and exiting 2 on a user error."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None

    return wrapper


def write_json(path: Path, payload: dict, overwrite: bool = False) -> Path:
    """Write ``payload`` as JSON, refusing to replace an existing file unless ``overwrite``."""
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another path or pass --overwrite to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
    return path


def echo_table(rows: list[dict], columns: list[str]) -> None:
    """Print rows as an aligned plain-text table."""
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths))  # noqa: E731
    typer.echo(line(columns))
    typer.echo(line(["-" * w for w in widths]))
    for row in cells:
        typer.echo(line(row))
    sys.stdout.flush()
