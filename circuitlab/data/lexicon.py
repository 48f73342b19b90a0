"""NusaX-Lexicon: Indonesian → local-language word pairs.

Files are ``lexicon/<language>.csv`` with an unnamed index column and the
columns ``indonesian,<language>``; one Indonesian word may have several
translations (one row each). Useful for vocabulary-overlap analyses and for
building word-level probes. Indonesian is the source side, so it has no file.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from circuitlab.data.errors import DataError
from circuitlab.data.nusax import NUSAX_ENV_VAR, NUSAX_LANGUAGES, nusax_language
from circuitlab.data.registry import PathLike

LEXICON_LANGUAGES: tuple[str, ...] = tuple(name for name in NUSAX_LANGUAGES if name != "indonesian")


def find_lexicon_dir(data_dir: PathLike | None = None) -> Path:
    """The ``lexicon/`` folder from a NusaX root, the folder itself, or ``$CIRCUITLAB_NUSAX_DIR``."""
    if data_dir is None:
        env = os.environ.get(NUSAX_ENV_VAR, "").strip()
        if not env:
            raise DataError(
                "NusaX-Lexicon: no data_dir given and $CIRCUITLAB_NUSAX_DIR is not set. The lexicon is "
                "local-only: pass data_dir=<NusaX root or its lexicon/ folder>, or set CIRCUITLAB_NUSAX_DIR."
            )
        source, base = "$CIRCUITLAB_NUSAX_DIR", Path(env).expanduser()
    else:
        source, base = "data_dir", Path(data_dir).expanduser()
    if not base.is_dir():
        raise DataError(f"NusaX-Lexicon: the {source} {str(base)!r} is not an existing folder. Pass the NusaX root.")
    for path in (base / "lexicon", base):
        if path.is_dir() and any(path.glob("*.csv")):
            return path
    raise DataError(
        f"NusaX-Lexicon: the {source} {str(base)!r} holds no lexicon; expected lexicon/<language>.csv "
        "under the NusaX root, or the lexicon/ folder itself. Pass the right folder."
    )


def load_lexicon(language: str, data_dir: PathLike | None = None) -> pd.DataFrame:
    """Word pairs for one language: a DataFrame with columns ``indonesian`` and ``local``.

    Entries are stripped of surrounding blanks; pairs with an empty side and
    repeated pairs are dropped (their count is in ``df.attrs["dropped"]``).
    ``df.attrs["language"]`` holds the language name.

    Raises:
        DataError: unknown language, Indonesian (the source side), missing or malformed file.
    """
    name = nusax_language(language)
    if name == "indonesian":
        raise DataError(
            "NusaX-Lexicon maps Indonesian to the other languages, so Indonesian has no file of its own. "
            f"Pick a target language: {', '.join(LEXICON_LANGUAGES)}."
        )
    folder = find_lexicon_dir(data_dir)
    path = folder / f"{name}.csv"
    if not path.is_file():
        found = sorted(p.stem for p in folder.glob("*.csv"))
        raise DataError(f"NusaX-Lexicon: missing file {path}; this copy has {found}. Restore {name}.csv.")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"NusaX-Lexicon: {path} is not a readable UTF-8 CSV ({exc}).") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in ("indonesian", name) if c not in frame.columns]
    if missing:
        raise DataError(
            f"NusaX-Lexicon: {path} has no column(s) {missing}; found {list(frame.columns)}. "
            f"Expected a header ',indonesian,{name}'."
        )
    pairs = pd.DataFrame({"indonesian": frame["indonesian"].str.strip(), "local": frame[name].str.strip()})
    kept = pairs[(pairs["indonesian"] != "") & (pairs["local"] != "")].drop_duplicates()
    if kept.empty:
        raise DataError(f"NusaX-Lexicon: {path} has no word pairs. Restore the file.")
    kept = kept.reset_index(drop=True)
    kept.attrs.update(language=name, dropped=len(pairs) - len(kept))
    return kept
