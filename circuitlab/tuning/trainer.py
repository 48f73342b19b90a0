"""The training loop shared by every method.

One loop, whatever is trained: a :class:`~circuitlab.tuning.tuners.Tuner` decides
which tensors are trainable, this module runs AdamW over exactly those.

- **Loss**: cross-entropy over the *label-token* logits only
  (:func:`circuitlab.tasks.label_logits`: the Bridge stops after the final norm,
  the unembedding is multiplied for the label rows only).
- **Optimizer**: ``torch.optim.AdamW`` (its fused kernel where the device has one)
  over the tuner's tensors only (so its state covers the mask's elements only).
  Weight decay applies to matrices; 1-D tensors (biases, norm scales) are not
  decayed, as in Hugging Face's ``Trainer``.
  Decoupled decay cannot move a frozen element: frozen elements are not in the
  optimizer at all (see :mod:`circuitlab.tuning.sliced`).
- **Schedule**: linear warm-up over ``warmup_ratio`` of the steps, then linear
  decay to 0 (``schedule="linear"``) or constant (``"constant"``).
- **Determinism**: the model stays in ``eval()`` mode (no dropout; Gemma-3, Qwen2
  and Llama have none anyway); epoch ``e`` visits the examples in the order of
  ``torch.randperm`` seeded with ``seed·1000 + e``, so a resumed run sees the same
  batches (:func:`batch_order`).
- **Length grouping** (``group_by_length=True``, off by default): as Hugging Face's
  ``group_by_length``, the epoch's permutation is cut into mega-batches of
  50 batches, each sorted by token length, so a batch pads to the length of
  similar examples instead of to the longest of a random draw; the batches are
  then visited in a seeded random order. On NusaX (100 examples, batch 16) this
  trains on 0.56x the padded tokens. The price: batches are no longer independent
  draws, and where length tracks the label they are label-skewed (NusaX's neutral
  texts are short). With fewer examples than one mega-batch every epoch repeats the
  same batches; on θ1's 50 Indonesian examples it lowered validation accuracy
  from 0.775 to 0.675 (one run), so the within-an-hour paper sweep groups target
  tuning only (examples/nusax_paper.toml).
- **Safety**: a NaN/inf loss or gradient norm stops training *before* the bad
  update with :class:`NonFiniteLossError`, which names the step and suggests a
  lower learning rate; with a ``checkpoint_dir`` the last good state is saved
  first, as it is on ``KeyboardInterrupt``. ``resume=True`` continues from it.
- **Memory**: by default every block recomputes its elementwise activations in
  backward and keeps only matmul outputs (:mod:`circuitlab.tuning.memory`).
- The model always leaves :func:`train` merged (a plain, frozen model), also
  when training fails.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from circuitlab.data.types import Example
from circuitlab.tasks import ClassificationTask, label_logits
from circuitlab.tuning.memory import release_memory, selective_recompute


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


CHECKPOINT_FILE = "trainer_state.pt"


def _lr_lambda(total: int, warmup: int, schedule: str):
    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / (warmup + 1)
        if schedule == "constant":
            return 1.0
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


def make_optimizer(trainables: dict[str, torch.nn.Parameter], config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable tensors; no decay for 1-D tensors (biases, norm scales)."""
    decay = [p for p in trainables.values() if p.ndim >= 2]
    no_decay = [p for p in trainables.values() if p.ndim < 2]
    groups = [g for g in ({"params": decay, "weight_decay": config.weight_decay},
                          {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    kwargs = dict(lr=config.lr, betas=config.betas, eps=config.eps)
    try:
        # One kernel per tensor instead of ~10 elementwise passes: the AdamW step over Gemma-3-270M's 268M
        # parameters takes 0.25 s instead of 1.1 s on 2 idle CPU cores. Same update, up to float rounding.
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, ValueError):  # a device or dtype without a fused kernel
        return torch.optim.AdamW(groups, foreach=True, **kwargs)


def training_step(
    model, task: ClassificationTask, batch, params: Sequence[torch.nn.Parameter], optimizer, scheduler=None,
    max_grad_norm: float | None = 1.0, on_nonfinite=None, phases: dict[str, list[float]] | None = None,
) -> float:
    """One optimizer step on ``batch``: label-logit cross-entropy, backward, clip, AdamW, schedule.

    Raises ``on_nonfinite(what, value)`` (default: a ``FloatingPointError``) *before* updating anything when
    the loss or the gradient norm is NaN/inf. Returns the loss. With ``phases`` (a dict), the wall seconds
    of ``forward`` (to the loss), ``backward`` and ``update`` (clip, AdamW, schedule) are appended to its
    lists (benchmarks; on CPU, where every op is synchronous).
    """
    def fail(what: str, value: float):
        optimizer.zero_grad(set_to_none=True)
        raise (on_nonfinite(what, value) if on_nonfinite else FloatingPointError(f"{what} is {value}"))

    last = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal last
        if phases is not None:
            now = time.perf_counter()
            phases.setdefault(name, []).append(now - last)
            last = now

    logits = label_logits(model, task, batch)
    loss = F.cross_entropy(logits.float(), batch.labels.to(logits.device))
    if not torch.isfinite(loss):
        fail("training loss", loss.item())
    lap("forward")
    loss.backward()
    lap("backward")
    if max_grad_norm is not None:
        norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    else:
        norm = torch.sqrt(sum((p.grad.float() ** 2).sum() for p in params if p.grad is not None))
    if not torch.isfinite(norm):
        fail("gradient norm", float(norm))
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    lap("update")
    return loss.item()


def _save_checkpoint(path: Path, step: int, trainables, optimizer, scheduler, losses, lrs, config, tuner) -> Path:
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


#: Batches per mega-batch of length grouping (Hugging Face's ``LengthGroupedSampler`` uses 50).
MEGABATCH = 50


def batch_order(lengths: Sequence[int], config: TrainConfig, epoch: int) -> list[list[int]]:
    """The batches (lists of example indices) of ``epoch``, a function of the seed, the epoch and the lengths only.

    Plain: consecutive slices of ``randperm(n)`` seeded with ``seed·1000 + epoch``. With
    ``group_by_length``, the same permutation is cut into mega-batches of
    :data:`MEGABATCH` batches, each is sorted longest first (ties keep the permutation's order)
    and sliced into batches, and the batches are shuffled by the same generator.
    """
    gen = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    order = torch.randperm(len(lengths), generator=gen).tolist()
    bs = config.batch_size
    if not config.group_by_length:
        return [order[i:i + bs] for i in range(0, len(order), bs)]
    batches: list[list[int]] = []
    mega = bs * MEGABATCH
    for m in range(0, len(order), mega):
        chunk = sorted(order[m:m + mega], key=lambda i: -lengths[i])
        batches += [chunk[i:i + bs] for i in range(0, len(chunk), bs)]
    return [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]


def token_lengths(task: ClassificationTask, tokenizer, examples: Sequence[Example], max_length: int) -> list[int]:
    """Each example's prompt length in tokens as :meth:`ClassificationTask.encode` pads it (capped at max_length)."""
    return [min(max_length, len(tokenizer(task.render(e), add_special_tokens=True)["input_ids"])) for e in examples]


def checkpoint_exists(checkpoint_dir: str | Path | None) -> bool:
    return checkpoint_dir is not None and (Path(checkpoint_dir) / CHECKPOINT_FILE).exists()


def train(
    model,
    task: ClassificationTask,
    examples: Sequence[Example],
    tuner,
    config: TrainConfig = TrainConfig(),
    *,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    resume: bool = False,
    keep_checkpoint: bool = False,
    progress: bool = True,
    desc: str = "train",
) -> TrainResult:
    """Train ``tuner``'s tensors of ``model`` (a LoadedModel) on ``examples``; leaves the model merged.

    Args:
        tuner: a :class:`~circuitlab.tuning.tuners.Tuner`, installed here if it is not yet.
        checkpoint_dir: where to save ``trainer_state.pt`` (every ``checkpoint_every`` steps if > 0,
            on ``KeyboardInterrupt`` and before a :class:`NonFiniteLossError`).
        resume: continue from the checkpoint in ``checkpoint_dir`` (same config and tuner required).
        keep_checkpoint: keep the checkpoint after a successful run (default: delete it).

    Raises:
        NonFiniteLossError: the loss or the gradient norm was NaN/inf (see the message for what to try).
    """
    if not examples:
        raise ValueError("Nothing to train on: the example list is empty.")
    ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    trainables = tuner.install(model)
    if not trainables:
        tuner.merge()
        raise ValueError("The tuner made no tensor trainable; check the method's mask.")
    try:
        return _train_installed(
            model, task, examples, tuner, trainables, config, ckpt_dir, checkpoint_every, resume, keep_checkpoint,
            progress, desc,
        )
    finally:
        tuner.merge()


def _train_installed(model, task, examples, tuner, trainables, config, ckpt_dir, checkpoint_every, resume,
                     keep_checkpoint, progress, desc) -> TrainResult:
    spe = config.steps_per_epoch(len(examples))
    total = spe * config.epochs
    warmup = math.ceil(config.warmup_ratio * total) if config.warmup_ratio > 0 else 0
    optimizer = make_optimizer(trainables, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total, warmup, config.schedule))
    params = list(trainables.values())
    losses: list[float] = []
    lrs: list[float] = []
    start = 0
    if resume and checkpoint_exists(ckpt_dir):
        state = torch.load(ckpt_dir / CHECKPOINT_FILE, weights_only=False)
        if state["config"] != config.to_dict():
            diff = {k: (state["config"].get(k), v) for k, v in config.to_dict().items() if state["config"].get(k) != v}
            raise ValueError(f"Cannot resume from {ckpt_dir}: the training config differs (saved, now): {diff}.")
        if set(state["trainables"]) != set(trainables):
            raise ValueError(f"Cannot resume from {ckpt_dir}: it trained other tensors than this tuner.")
        with torch.no_grad():
            for k, p in trainables.items():
                p.copy_(state["trainables"][k])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, losses, lrs = state["step"], list(state["losses"]), list(state["lrs"])

    def save(step: int) -> Path | None:
        if ckpt_dir is None:
            return None
        return _save_checkpoint(ckpt_dir, step, trainables, optimizer, scheduler, losses, lrs, config, tuner)

    lengths = (token_lengths(task, model.tokenizer, examples, config.max_length) if config.group_by_length
               else [0] * len(examples))
    model.bridge.eval()
    release_memory()
    n_trainable = sum(p.numel() for p in params)
    step_s: list[float] = []
    t0 = time.perf_counter()
    step = start
    bar = tqdm(total=total, initial=start, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    try:
        with torch.enable_grad(), selective_recompute(model, config.recompute == "selective"):
            for epoch in range(start // spe, config.epochs):
                batches = batch_order(lengths, config, epoch)
                for b in range(step - epoch * spe, spe):
                    ts = time.perf_counter()
                    idx = batches[b]
                    batch = task.encode([examples[i] for i in idx], model.tokenizer, config.max_length,
                                        config.padding_side)
                    lr = optimizer.param_groups[0]["lr"]
                    loss = training_step(model, task, batch, params, optimizer, scheduler, config.max_grad_norm,
                                         on_nonfinite=lambda what, value: NonFiniteLossError(
                                             what, step, epoch, lr, value, save(step)))
                    step += 1
                    losses.append(loss)
                    lrs.append(lr)
                    step_s.append(time.perf_counter() - ts)
                    bar.update(1)
                    bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.2g}", epoch=epoch + 1)
                    if checkpoint_every and step % checkpoint_every == 0 and step < total:
                        save(step)
    except KeyboardInterrupt:
        where = save(step)
        if where:
            print(f"\nInterrupted at step {step}; state saved to {where}. Resume with resume=True (CLI: --resume).")
        raise
    finally:
        bar.close()
    if ckpt_dir is not None and not keep_checkpoint and (ckpt_dir / CHECKPOINT_FILE).exists():
        (ckpt_dir / CHECKPOINT_FILE).unlink()
    elif ckpt_dir is not None and keep_checkpoint:
        save(step)
    return TrainResult(step, losses, lrs, n_trainable, time.perf_counter() - t0, step_s, start, config.to_dict())


def write_json(path: str | Path, obj) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)
    return path
