"""Where circuitlab keeps converted models and other derived artefacts."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else ``$CIRCUITLAB_CACHE``, else ``~/.cache/circuitlab``."""
    root = Path(cache_dir or os.environ.get("CIRCUITLAB_CACHE") or Path.home() / ".cache" / "circuitlab")
    root.mkdir(parents=True, exist_ok=True)
    return root
