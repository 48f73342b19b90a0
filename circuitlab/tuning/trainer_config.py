"""What a training run is asked to do and what it reports: :class:`TrainConfig`, :class:`TrainResult`.

Plain frozen data, so a config can be saved next to a checkpoint and compared on
resume, and hashed into cache keys (:meth:`TrainConfig.to_dict`). The loop itself
is :func:`circuitlab.tuning.trainer.train`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal


def _opt(default, help: str, saved: bool | str = True):
    """A field with its help text. ``saved="unless-default"``: a field added after configs were saved and
    cache keys derived from them; :meth:`TrainConfig.to_dict` leaves it out at its default, so they stay valid."""
    return field(default=default, metadata={"help": help, "saved": saved})


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (defaults: the paper's, plus a warm-up)."""

    lr: float = _opt(5e-5, "AdamW peak learning rate.")
    epochs: int = _opt(5, "Passes over the training examples.")
    batch_size: int = _opt(16, "Examples per optimizer step.")
    max_length: int = _opt(128, "Prompt length cap in tokens (longer texts lose tokens from their start).")
    warmup_ratio: float = _opt(0.1, "Fraction of the steps with a linear warm-up from 0 to lr.")
    schedule: Literal["linear", "constant"] = _opt("linear", "After warm-up: linear decay to 0, or constant.")
    weight_decay: float = _opt(0.01, "AdamW decoupled weight decay on matrices (torch's default).")
    betas: tuple[float, float] = _opt((0.9, 0.999), "AdamW betas.")
    eps: float = _opt(1e-8, "AdamW epsilon.")
    max_grad_norm: float | None = _opt(1.0, "Clip the global gradient norm (None: no clipping).")
    seed: int = _opt(0, "Seeds the data order (and anything random the tuner draws).")
    padding_side: Literal["right", "left"] = _opt("right", "Padding side of training batches.")
    recompute: Literal["none", "selective"] = _opt(
        "selective", "Recompute elementwise activations in backward, keep matmul outputs (see tuning.memory).")
    group_by_length: bool = _opt(
        False, "Batch examples of similar token length together (less padding; see batch_order).",
        saved="unless-default")

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}.")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}.")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}.")
        if self.recompute not in ("none", "selective"):
            raise ValueError(f"recompute must be 'none' or 'selective', got {self.recompute!r}.")
        if self.schedule not in ("linear", "constant"):
            raise ValueError(f"schedule must be 'linear' or 'constant', got {self.schedule!r}.")
        object.__setattr__(self, "betas", tuple(self.betas))

    def to_dict(self) -> dict:
        d = asdict(self)
        for f in fields(self):
            if f.metadata.get("saved") == "unless-default" and d[f.name] == f.default:
                d.pop(f.name)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def steps_per_epoch(self, n_examples: int) -> int:
        return math.ceil(n_examples / self.batch_size)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss or gradient; nothing was updated with it."""

    def __init__(self, what: str, step: int, epoch: int, lr: float, value: float, checkpoint: Path | None):
        self.what, self.step, self.epoch, self.lr, self.value, self.checkpoint = what, step, epoch, lr, value, checkpoint
        saved = f" The last good state is saved in {checkpoint}." if checkpoint else ""
        super().__init__(
            f"The {what} became {value} at step {step} (epoch {epoch + 1}, learning rate {lr:.3g} at that step); "
            f"training stopped before applying that update.{saved} Try a lower learning rate (e.g. {lr / 5:.2g}), a "
            "longer warm-up (warmup_ratio) or gradient clipping (max_grad_norm)."
        )


@dataclass
class TrainResult:
    """What a training run did.

    Attributes:
        steps: optimizer steps taken (including any done before a resume).
        losses: the training loss of every step.
        lrs: the learning rate of every step.
        n_trainable: elements the optimizer updates (slices counted element by element).
        wall_s: seconds spent in this call; step_s: seconds per step in this call.
        resumed_from: the step a resumed run started at (0 for a fresh run).
    """

    steps: int
    losses: list[float]
    lrs: list[float]
    n_trainable: int
    wall_s: float
    step_s: list[float]
    resumed_from: int = 0
    config: dict = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")

    def to_dict(self) -> dict:
        return asdict(self)


__all__ = ["NonFiniteLossError", "TrainConfig", "TrainResult"]
