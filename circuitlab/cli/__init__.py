"""The ``circuitlab`` command line: thin wrappers over the public API.

Each subcommand lives in its own module and registers itself on :data:`app`.
"""

from circuitlab.cli import difficulty, discover, evaluate, experiments, info, plot, tune  # noqa: F401  (registration)
from circuitlab.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
