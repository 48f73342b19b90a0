"""Supervised fine-tuning of a translation task through ``transformers.Trainer`` or TRL's ``SFTTrainer``.

Every method goes through the same trainer: a :class:`~circuitlab.tuning.tuners.Tuner`
(head mask, norms, full, or LoRA) is installed by a
:class:`~circuitlab.tuning.hf_trainer.TunerCallback` before the trainer builds its
optimizer and merged when training ends, so the model comes back plain. Logging goes
through the trainer's own ``report_to`` callbacks: TensorBoard (event files under
``output_dir/runs/``, or ``$TENSORBOARD_LOGGING_DIR``) and MLflow when it is installed and
``MLFLOW_TRACKING_URI`` is set. A NaN or infinite loss
stops training with :class:`~circuitlab.tuning.NonFiniteLossError` *before* the bad update
(``Trainer`` alone would apply it and log the loss as 0).
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from circuitlab.generation.loss import ResponseLossTrainer
from circuitlab.generation.translation import Collator, TranslationPair, TranslationTask
from circuitlab.tuning.hf_trainer import TunerCallback
from circuitlab.tuning.trainer_config import NonFiniteLossError

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object  # type: ignore[misc,assignment]


@dataclass(frozen=True)
class SFTSettings:
    """Trainer settings shared by every method (``TrainingArguments`` names where they exist)."""

    epochs: float = 3.0
    lr: float = 1e-4
    batch_size: int = 8
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 128
    seed: int = 0
    logging_steps: int = 5
    report_to: tuple[str, ...] = ("tensorboard", "mlflow")
    """Integrations to log to; ones that are not installed are skipped."""
    response_logits_only: bool = True
    """Apply the LM head only at response positions (:mod:`circuitlab.generation.loss`); same loss, less compute."""


@dataclass(frozen=True)
class SFTResult:
    """What one fine-tuning run did."""

    n_trainable: int
    steps: int
    train_loss: float
    seconds: float
    log_history: tuple[dict, ...]


class _StopOnNonFinite(TrainerCallback):
    """Stop before a non-finite gradient reaches the weights (Trainer would apply it, and log the loss as 0)."""

    def __init__(self, params):
        self.params = list(params)

    def on_pre_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        bad = [p for p in self.params if p.grad is not None and not torch.isfinite(p.grad).all()]
        if bad:
            lr = optimizer.param_groups[0]["lr"] if optimizer is not None else args.learning_rate
            value = float(bad[0].grad[~torch.isfinite(bad[0].grad)][0])
            raise NonFiniteLossError("gradient", state.global_step + 1, int(state.epoch or 0), lr, value, None)
        return control


def reporters(wanted: Sequence[str]) -> list[str]:
    """The ``report_to`` integrations among ``wanted`` that are installed (MLflow: and configured).

    MLflow is used only when ``MLFLOW_TRACKING_URI`` says where to log: its default, a
    ``./mlruns`` file store in the working directory, is deprecated by MLflow 3 (it refuses it
    unless ``MLFLOW_ALLOW_FILE_STORE=true``) and would litter every folder a run starts in.
    """
    modules = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}
    out = [r for r in wanted if importlib.util.find_spec(modules.get(r, r)) is not None]
    return [r for r in out if r != "mlflow" or os.environ.get("MLFLOW_TRACKING_URI")]


def _common_args(settings: SFTSettings, output_dir: Path) -> dict:
    report = reporters(settings.report_to)
    return dict(
        output_dir=str(output_dir), per_device_train_batch_size=settings.batch_size,
        num_train_epochs=settings.epochs, learning_rate=settings.lr, weight_decay=settings.weight_decay,
        warmup_steps=settings.warmup_ratio,  # < 1: a fraction of the steps
        lr_scheduler_type="linear", logging_steps=settings.logging_steps,
        report_to=report or "none", save_strategy="no",
        seed=settings.seed, data_seed=settings.seed, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0, disable_tqdm=True, logging_nan_inf_filter=False,
    )


def _run(trainer, callback: TunerCallback) -> SFTResult:
    start = time.perf_counter()
    try:
        out = trainer.train()
    finally:
        callback.merge()
    return SFTResult(callback.n_trainable, int(out.global_step), float(out.training_loss),
                     time.perf_counter() - start, tuple(trainer.state.log_history))


def sft(
    model, tuner, pairs: Sequence[TranslationPair], settings: SFTSettings, output_dir: str | Path,
    task: TranslationTask = TranslationTask(),
) -> SFTResult:
    """Fine-tune ``model`` (a LoadedModel) on ``pairs`` with ``transformers.Trainer``; loss on responses only.

    The LM head runs only at response positions unless ``settings.response_logits_only`` is off.
    """
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    output_dir = Path(output_dir)
    trainer_cls = ResponseLossTrainer if settings.response_logits_only else Trainer
    rows = task.encode(model.tokenizer, pairs, settings.max_length)
    callback = TunerCallback(model, tuner)
    args = TrainingArguments(**_common_args(settings, output_dir), remove_unused_columns=False)
    trainer = trainer_cls(
        model=callback.hf_model, args=args, train_dataset=Dataset.from_list(rows),
        data_collator=Collator(model.tokenizer), callbacks=[callback, _StopOnNonFinite(callback.trainables.values())],
    )
    return _run(trainer, callback)


def sft_trl(
    model, tuner, pairs: Sequence[TranslationPair], settings: SFTSettings, output_dir: str | Path,
    task: TranslationTask = TranslationTask(),
) -> SFTResult:
    """The same run through TRL's ``SFTTrainer`` (prompt–completion data: loss on the completion only)."""
    try:
        from trl import SFTConfig, SFTTrainer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("sft_trl needs TRL: pip install 'circuitlab[generation]'.") from exc
    from datasets import Dataset

    output_dir = Path(output_dir)
    data = Dataset.from_list([{"prompt": task.prompt(p), "completion": task.response(p)} for p in pairs])
    callback = TunerCallback(model, tuner)
    args = SFTConfig(**_common_args(settings, output_dir), max_length=settings.max_length,
                     completion_only_loss=True, packing=False)
    trainer = SFTTrainer(
        model=callback.hf_model, args=args, train_dataset=data, processing_class=model.tokenizer,
        callbacks=[callback, _StopOnNonFinite(callback.trainables.values())],
    )
    return _run(trainer, callback)
