"""One cell of CT-SFT, as a pure function: start weights + heads + examples + config -> metrics.

:func:`tune_cell` is the only tuning engine: ``circuitlab tune``, ``sweep``,
``demo`` and the notebooks all reach it through the sweep's ``ctsft`` backend,
and it can be called directly on a loaded model. For one cell it

1. for every learning rate of the grid: restores the start weights exactly (from
   a :class:`~circuitlab.tuning.ModelSnapshot`), seeds torch with the cell seed,
   trains the method's tuner on the target examples and evaluates target
   **validation**; a diverging rate (NaN/inf loss) is recorded and skipped;
2. keeps the rate with the best validation accuracy (ties: macro-F1, then the
   earlier grid entry), puts its weights back and evaluates target **test** and
   proxy **test** once;
3. returns the metrics, what was tried, and the trained change as a sparse delta,
   and leaves the model with its start weights.

What comes *before* the cell (θ1, the head scores, the accuracies before tuning)
and where results are stored is the sweep's business (:mod:`circuitlab.experiments`).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from circuitlab.data import Example
from circuitlab.errors import UserError
from circuitlab.evaluation import evaluate
from circuitlab.heads import HeadSet
from circuitlab.methods import get_method
from circuitlab.results import CellResult
from circuitlab.tuning.deltas import ModelSnapshot, SparseDelta, apply_delta, compute_delta, count_changed
from circuitlab.tuning.methods import build_tuner
from circuitlab.tuning.protocol import label_counts
from circuitlab.tuning.trainer import NonFiniteLossError, TrainConfig, train
from circuitlab.tuning.tuners import LoraSettings


@dataclass(frozen=True)
class CellExamples:
    """The examples one cell sees, with the task that reads them.

    ``train`` are the ``n`` target tuning examples (pool B), ``valid`` choose the learning
    rate, ``test`` and ``proxy_test`` are only evaluated (transfer and forgetting).
    """

    task: object
    train: Sequence[Example]
    valid: Sequence[Example]
    test: Sequence[Example]
    proxy_test: Sequence[Example]


@dataclass(frozen=True)
class CellConfig:
    """How one cell is tuned and judged.

    Attributes:
        method: a trainable method of :data:`circuitlab.methods.METHODS`.
        lr_grid: learning rates tried; the best on validation is reported.
        seed: seeds torch before each training (tuner init, data order).
        train: the training hyper-parameters (``lr`` and ``seed`` are set per grid entry).
        kv_rule: the GQA K/V rule of head methods.
        lora: LoRA settings of ``lora``.
        eval_batch_size / eval_max_length: evaluation batches and token limit.
        keep_delta: return the trained change (dense methods: the whole model).
    """

    method: str
    lr_grid: tuple[float, ...]
    seed: int = 0
    train: TrainConfig = field(default_factory=TrainConfig)
    kv_rule: str = "any"
    lora: LoraSettings = field(default_factory=LoraSettings)
    eval_batch_size: int = 16
    eval_max_length: int = 128
    keep_delta: bool = True

    def __post_init__(self) -> None:
        method = get_method(self.method)
        if method.derived_from:
            raise UserError(f"{self.method!r} is chosen among {method.derived_from} cells; it trains nothing itself.")
        if not self.lr_grid or any(not lr > 0 for lr in self.lr_grid):
            raise UserError(f"lr_grid must hold positive learning rates, got {self.lr_grid}.")
        object.__setattr__(self, "lr_grid", tuple(float(x) for x in self.lr_grid))


def tune_cell(
    model, heads: HeadSet | None, examples: CellExamples, config: CellConfig, *,
    snapshot: ModelSnapshot | None = None, progress: bool = False, log: Callable[[str], None] | None = None,
) -> CellResult:
    """Tune ``model`` (at its start weights) with ``config.method`` on ``examples``; see the module docstring.

    Args:
        model: a LoadedModel at the cell's start weights (θ1, or the base model for ``direct``).
        heads: the heads a head method trains (``None`` for the others).
        snapshot: the start weights, when the caller already holds them (else taken here).

    Returns:
        a :class:`~circuitlab.results.CellResult` whose ``row`` holds the metrics (no coordinates,
        no "before" accuracies), ``meta`` the grid entries tried, ``delta`` the best run's change.
    """
    method = get_method(config.method)
    if method.uses_heads and (heads is None or not len(heads)):
        raise UserError(f"Method {method.name!r} trains chosen heads: give a non-empty HeadSet.")
    t0 = time.perf_counter()
    snapshot = snapshot or ModelSnapshot.take(model)
    task = examples.task

    def judge(split):
        return evaluate(model, task, split, batch_size=config.eval_batch_size, max_length=config.eval_max_length,
                        progress=progress)

    grid = config.lr_grid
    entries: list[dict] = []
    best: tuple[dict, SparseDelta] | None = None
    with tempfile.TemporaryDirectory(prefix="circuitlab-cell-") as spill:
        for lr in grid:
            snapshot.restore(model)
            torch.manual_seed(config.seed)
            tuner = build_tuner(method, model, heads=heads if method.uses_heads else None, kv_rule=config.kv_rule,
                                lora=config.lora)
            try:
                res = train(model, task, examples.train, tuner, replace(config.train, lr=lr, seed=config.seed),
                            progress=progress, desc=f"{method.name} lr={lr:g}")
            except NonFiniteLossError as exc:
                entries.append({"lr": lr, "status": "diverged", "error": str(exc), "step": exc.step})
                if log:
                    log(f"{method.name} lr={lr:g} diverged at step {exc.step}; trying the next learning rate")
                continue
            v = judge(examples.valid)
            entry = {"lr": lr, "status": "ok", "val_acc": v.accuracy, "val_f1": v.macro_f1, "steps": res.steps,
                     "train_s": res.wall_s, "loss_first": res.losses[0], "loss_final": res.final_loss,
                     "n_trainable": res.n_trainable, "tuner": tuner.describe()}
            entries.append(entry)
            if best is None or _rank(entry, grid) > _rank(best[0], grid):
                best = (entry, _keep(model, tuner.mask, Path(spill)))
        row = _settings_row(method, heads, grid, entries, examples.train, config)
        meta = {"tried": entries}
        if best is None:
            snapshot.restore(model)
            row.update(status="diverged", wall_s=time.perf_counter() - t0)
            meta["error"] = "; ".join(e.get("error", "") for e in entries)[:2000]
            return CellResult(row, meta)
        entry, delta = best
        snapshot.restore(model)
        apply_delta(model, _weights(delta, Path(spill)), check_base=False)
    delta.after = {}  # the model holds the weights now
    test, proxy = judge(examples.test), judge(examples.proxy_test)
    mask = delta.mask
    n_changed, total = count_changed(model, mask, snapshot), mask.total
    row.update(
        status="ok", lr=entry["lr"], val_acc=entry["val_acc"], val_f1=entry["val_f1"], target_acc=test.accuracy,
        target_f1=test.macro_f1, proxy_acc_after=proxy.accuracy, proxy_f1_after=proxy.macro_f1,
        n_params_updated=entry["n_trainable"], param_fraction=entry["n_trainable"] / total,
        n_params_changed=n_changed, frac_params_changed=n_changed / total, n_params_total=total,
        train_loss_first=entry["loss_first"], train_loss_final=entry["loss_final"], steps=entry["steps"],
        train_s=sum(e.get("train_s", 0) for e in entries), test_n=test.n, proxy_test_n=proxy.n,
    )
    meta["correct"] = {"target": test.correct, "proxy": proxy.correct}  # per test example, for paired bootstraps
    kept = compute_delta(model, mask, snapshot) if config.keep_delta else None
    snapshot.restore(model)
    row["wall_s"] = time.perf_counter() - t0
    return CellResult(row, meta, kept)


def _settings_row(method, heads, grid, entries, train_examples, config: CellConfig) -> dict:
    """The columns that say what was tried (filled before the metrics)."""
    t = config.train
    return {
        "heads": " ".join(map(str, heads)) if method.uses_heads and heads is not None else None,
        "kv_rule": config.kv_rule if method.uses_heads else None, "lr": None, "lr_grid": json.dumps(list(grid)),
        "val_acc_by_lr": json.dumps({f"{e['lr']:g}": e.get("val_acc", e["status"]) for e in entries}),
        "train_label_counts": json.dumps(label_counts(train_examples)), "epochs": t.epochs,
        "batch_size": t.batch_size, "max_length": t.max_length, "warmup_ratio": t.warmup_ratio,
        "weight_decay": t.weight_decay, "schedule": t.schedule, "max_grad_norm": t.max_grad_norm,
        "group_by_length": t.group_by_length,
    }


def _keep(model, mask, spill: Path, limit_mb: float = 256.0) -> SparseDelta:
    """The tuned weights of the best entry so far (spilled to disk when large, e.g. full fine-tuning)."""
    delta = compute_delta(model, mask)
    if mask.n_trainable * 4 / 2**20 > limit_mb:
        from safetensors.torch import save_file

        save_file(delta.after, str(spill / "best_after.safetensors"))
        delta.after = {}
    return delta


def _weights(delta: SparseDelta, spill: Path) -> SparseDelta:
    if not delta.after:
        from safetensors.torch import load_file

        delta.after = load_file(str(spill / "best_after.safetensors"))
    return delta


def _rank(entry: dict, grid: Sequence[float]) -> tuple:
    """Validation accuracy, then macro-F1, then the earlier grid entry."""
    return (entry["val_acc"], entry["val_f1"], -list(grid).index(entry["lr"]))


__all__ = ["CellConfig", "CellExamples", "tune_cell"]
