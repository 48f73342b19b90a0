"""Training state on disk: the resumable checkpoint (``trainer_state.pt``) and atomic JSON files.

Both are written to a temporary file and renamed into place, so an interrupted
write leaves the previous file (or none), never a partial one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

CHECKPOINT_FILE = "trainer_state.pt"


def save_checkpoint(path: Path, step: int, trainables, optimizer, scheduler, losses, lrs, config, tuner) -> Path:
    """Save the loop's state (trainables, AdamW, schedule, losses) to ``path/trainer_state.pt`` atomically."""
    path.mkdir(parents=True, exist_ok=True)
    state = {
        "step": step, "config": config.to_dict(), "tuner": tuner.describe(),
        "trainables": {k: p.detach().clone() for k, p in trainables.items()},
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "losses": losses, "lrs": lrs,
    }
    tmp = path / (CHECKPOINT_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path / CHECKPOINT_FILE)
    return path / CHECKPOINT_FILE


def checkpoint_exists(checkpoint_dir: str | Path | None) -> bool:
    """Whether ``checkpoint_dir`` holds a checkpoint to resume from."""
    return checkpoint_dir is not None and (Path(checkpoint_dir) / CHECKPOINT_FILE).exists()


def write_json(path: str | Path, obj) -> Path:
    """Write ``obj`` as indented JSON to ``path`` via a temporary file (non-JSON values as ``str``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)
    return path


__all__ = ["CHECKPOINT_FILE", "checkpoint_exists", "save_checkpoint", "write_json"]
