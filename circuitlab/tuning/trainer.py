"""The training loop shared by every method.

One loop, whatever is trained: a :class:`~circuitlab.tuning.tuners.Tuner` decides
which tensors are trainable, this module runs AdamW over exactly those.

- **Loss**: cross-entropy over the label scores (:func:`circuitlab.tasks.label_scores`):
  the label-token logits for single-token verbalizers (the Bridge stops after the
  final norm, the unembedding is multiplied for the label rows only), the summed
  token log-probabilities for multi-token ones: the same scores evaluation reads.
- **Optimizer**: ``torch.optim.AdamW`` (its fused kernel where the device has one)
  over the tuner's tensors only (so its state covers the mask's elements only).
  Weight decay applies to matrices; 1-D tensors (biases, norm scales) are not
  decayed, as in Hugging Face's ``Trainer``.
  Decoupled decay cannot move a frozen element: frozen elements are not in the
  optimizer at all (see :mod:`circuitlab.tuning.sliced`).
- **Schedule**: linear warm-up over ``warmup_ratio`` of the steps, then linear
  decay to 0 (``schedule="linear"``) or constant (``"constant"``).
- **Determinism**: the model stays in ``eval()`` mode (no dropout; Gemma-3, Qwen2
  and Llama have none anyway); the batches of each epoch are a function of the
  seed, the epoch and (with ``group_by_length``) the token lengths only, so a
  resumed run sees the same batches (:mod:`circuitlab.tuning.trainer_batches`).
- **Safety**: a NaN/inf loss or gradient norm stops training *before* the bad
  update with :class:`NonFiniteLossError`, which names the step and suggests a
  lower learning rate; with a ``checkpoint_dir`` the last good state is saved
  first (:mod:`circuitlab.tuning.trainer_state`), as it is on ``KeyboardInterrupt``.
  ``resume=True`` continues from it.
- **Memory**: by default every block recomputes its elementwise activations in
  backward and keeps only matmul outputs (:mod:`circuitlab.tuning.memory`).
- The model always leaves :func:`train` merged (a plain, frozen model), also
  when training fails.

:class:`TrainConfig` and :class:`TrainResult` live in :mod:`circuitlab.tuning.trainer_config`;
every name is re-exported here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from circuitlab.data.types import Example
from circuitlab.tasks import ClassificationTask, label_scores
from circuitlab.tuning.memory import release_memory, selective_recompute
from circuitlab.tuning.trainer_batches import MEGABATCH, batch_order, token_lengths
from circuitlab.tuning.trainer_config import NonFiniteLossError, TrainConfig, TrainResult
from circuitlab.tuning.trainer_state import CHECKPOINT_FILE, checkpoint_exists, write_json
from circuitlab.tuning.trainer_state import save_checkpoint as _save_checkpoint


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
    """One optimizer step on ``batch``: label-score cross-entropy, backward, clip, AdamW, schedule.

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

    logits = label_scores(model, task, batch)
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


__all__ = [
    "CHECKPOINT_FILE", "MEGABATCH", "NonFiniteLossError", "TrainConfig", "TrainResult", "batch_order",
    "checkpoint_exists", "make_optimizer", "token_lengths", "train", "training_step", "write_json",
]
