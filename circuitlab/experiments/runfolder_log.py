"""The sweep's logging: everything to ``RUN/sweep.log``, INFO and up to the console without breaking progress bars."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from circuitlab.experiments.runfolder import RunFolder


@contextlib.contextmanager
def run_logging(run: RunFolder, quiet: bool = False, name: str = "circuitlab.experiments") -> Iterator[logging.Logger]:
    """Log to ``RUN/sweep.log`` (everything, always) and to the console through tqdm (INFO and up, unless ``quiet``)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = []
    fh = logging.FileHandler(run.log_path, encoding="utf-8")
    fh.setLevel(logging.DEBUG)
    fh.setFormatter(fmt)
    handlers.append(fh)
    if not quiet:
        ch = _TqdmHandler()
        ch.setLevel(logging.INFO)
        ch.setFormatter(logging.Formatter("%(message)s"))
        handlers.append(ch)
    for h in handlers:
        logger.addHandler(h)
    try:
        yield logger
    finally:
        for h in handlers:
            logger.removeHandler(h)
            h.close()


class _TqdmHandler(logging.Handler):
    """Console logging that does not break progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm.auto import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover
            self.handleError(record)



__all__ = ["run_logging"]
