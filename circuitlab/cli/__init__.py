"""The ``circuitlab`` command line: thin wrappers over the public API.

Each subcommand lives in its own module and registers itself on :data:`app`.
"""

from circuitlab.cli import (  # noqa: F401  (registration)
    difficulty, discover, evaluate, experiments, info, plot, translate, tune,
)
from circuitlab.allocator import reuse_freed_memory
from circuitlab.cli.app import app


def main() -> None:
    """The console entry point: keeps freed memory for reuse (:mod:`circuitlab.allocator`), then runs."""
    try:
        reuse_freed_memory()
    except ValueError as e:  # a bad CIRCUITLAB_MALLOC
        raise SystemExit(f"Error: {e}") from None
    app()


__all__ = ["app", "main"]
