"""Package versions recorded with every result (what made it)."""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

_PACKAGES = ("circuitlab", "torch", "transformers", "transformer-lens", "peft", "safetensors")


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """``{package: version}`` for the packages a tuning result depends on, plus Python and the git commit."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        repo = Path(__file__).resolve().parents[2]
        out["git_commit"] = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
        ).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = "unknown"
    return out
