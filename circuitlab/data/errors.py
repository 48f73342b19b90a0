"""The one error the data layer raises, and helpers that make its messages useful.

Every ``DataError`` says what was wrong, what was expected and how to fix it, so a
user who mistypes a language or points at the wrong folder can act on the message
alone. It subclasses ``ValueError`` so generic callers can still catch it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from circuitlab.errors import UserError


class DataError(UserError):
    """Bad or missing data: an unknown name, a missing file, a malformed row."""


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The choice most similar to ``value`` (difflib), or ``None`` if nothing is close."""
    matches = difflib.get_close_matches(value.lower(), list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def check_choice(
    kind: str,
    value: str,
    valid: Iterable[str],
    *,
    aliases: Mapping[str, str] | None = None,
    dataset: str = "",
    hint: str = "",
) -> str:
    """Return the canonical name for ``value`` or raise a ``DataError`` listing the valid ones.

    Matching ignores case and surrounding blanks; ``aliases`` maps extra accepted
    spellings (e.g. ISO codes) to canonical names.
    """
    valid = tuple(valid)
    aliases = dict(aliases or {})
    key = str(value).strip().lower()
    if key in valid:
        return key
    if key in aliases:
        return aliases[key]
    where = f" {dataset}" if dataset else ""
    msg = f"Unknown{where} {kind} {value!r}. Valid {kind}s: {', '.join(valid)}."
    guess = closest(key, [*valid, *aliases])
    if guess is not None:
        msg += f" Did you mean {aliases.get(guess, guess)!r}?"
    if hint:
        msg += f" {hint}"
    raise DataError(msg)
