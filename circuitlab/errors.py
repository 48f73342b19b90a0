"""The one base class of errors the user fixes.

A :class:`UserError` means the input is wrong (an unknown language, a missing
file, a bad spec field, k larger than the model): the CLI prints its message on
one line and exits 2. Any other exception is a bug and keeps its traceback.
It subclasses :class:`ValueError` so that code catching ``ValueError`` still works.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input: the message says what is wrong and what to do."""


__all__ = ["UserError"]
