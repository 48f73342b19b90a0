"""Proxy competence: the full fine-tuning that produces θ1, cached on disk by its configuration.

CT-SFT starts every target adaptation from θ1, the base model fully fine-tuned on
the task in a higher-resource *proxy* language (Indonesian for NusaX), with only
``n_src`` examples (the paper: 50) of its pool A. θ1 is expensive to make and
must be *the same* for every method, seed and target that compares against it,
so it is built once and cached:

``<cache>/proxy/<key>/``
    a plain Hugging Face folder (loadable by ``load_model(path)`` and by
    ``transformers``) plus ``proxy.json`` (config, metrics, versions).

``key`` is a SHA-256 of everything that can change θ1: the model name and its
config, the dataset, language, pools, ``n_src``, sampling seed, the training
config, a digest of the exact training examples, and the tuning code version.
With ``lr_grid`` every rate is tried and the one with the best proxy
*validation* accuracy makes θ1 (all candidates are recorded): the paper's
5e-5 made the loss of Gemma-3-270M climb from 0.57 to 4.7 in four steps here.
Asking again with the same configuration returns the cached folder without
training; changing any of them makes a new one. Writing goes to a temporary
folder that is renamed at the end, so an interrupted run never leaves a
half-written θ1 behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from circuitlab.defaults import DEFAULT_MODEL, DEFAULT_PROXY
from circuitlab import models
from circuitlab.models import cache_root, resolve_model_path
from circuitlab.tasks import make_task
from circuitlab.tuning.protocol import DataProtocol, label_counts
from circuitlab.tuning.trainer import TrainConfig, write_json

PROXY_VERSION = 1  # bump when the proxy recipe changes, so cached checkpoints are rebuilt


def _opt(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class ProxyConfig:
    """Everything that defines θ1."""

    model: str = _opt(DEFAULT_MODEL, "Base model (registered name, folder or hub id).")
    language: str = _opt(DEFAULT_PROXY, "Proxy language.")
    n_src: int = _opt(50, "Proxy training examples drawn (near-balanced) from pool A.")
    seed: int = _opt(0, "Seed of the n_src draw and of the training order.")
    data: DataProtocol = _opt(DataProtocol(), "Dataset, pools and evaluation subsets.")
    train: TrainConfig = _opt(TrainConfig(), "Training hyper-parameters (full fine-tuning).")
    lr_grid: tuple[float, ...] | None = _opt(
        None, "Learning rates tried; the one with the best proxy validation accuracy makes θ1 (None: train.lr).")

    def __post_init__(self) -> None:
        if self.lr_grid is not None:
            object.__setattr__(self, "lr_grid", tuple(float(x) for x in self.lr_grid))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["train"] = self.train.to_dict()
        d["data"].pop("data_dir")  # where the files are does not change θ1; their content is in the key
        d["train"].pop("recompute")  # recomputation gives bit-identical gradients
        return d

    def key(self) -> str:
        """The cache key (see module docstring)."""
        examples = self.data.proxy_train(self.language, self.n_src, self.seed)
        digest = hashlib.sha256("\n".join(f"{e.id}\t{e.label}\t{e.text}" for e in examples).encode()).hexdigest()
        model_cfg = resolve_model_path(self.model) / "config.json"
        body = {
            "proxy_version": PROXY_VERSION, "config": self.to_dict(), "examples": digest,
            "model_config": hashlib.sha256(model_cfg.read_bytes()).hexdigest() if model_cfg.exists() else None,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass
class ProxyCheckpoint:
    """A cached θ1: its folder, key and metrics (``proxy_val_acc`` …)."""

    path: Path
    key: str
    info: dict

    def load(self, **kwargs):
        """Boot θ1 as a :class:`~circuitlab.models.LoadedModel`."""
        return models.load_model(str(self.path), **kwargs)

    @property
    def metrics(self) -> dict:
        return self.info.get("metrics", {})


def proxy_dir(config: ProxyConfig, cache_dir: str | Path | None = None) -> Path:
    return cache_root(cache_dir) / "proxy" / f"{config.model.replace('/', '--')}-{config.language}-{config.key()}"


def load_proxy(config: ProxyConfig, cache_dir: str | Path | None = None) -> ProxyCheckpoint | None:
    """The cached θ1 of ``config``, or ``None`` when it has not been built."""
    path = proxy_dir(config, cache_dir)
    meta = path / "proxy.json"
    if not meta.exists():
        return None
    info = json.loads(meta.read_text())
    return ProxyCheckpoint(path, info["key"], info)


def ensure_proxy(
    config: ProxyConfig, cache_dir: str | Path | None = None, *, progress: bool = True, rebuild: bool = False,
    eval_batch_size: int = 16,
) -> ProxyCheckpoint:
    """θ1 for ``config``: from the cache, or trained now (full fine-tuning) and cached.

    Reports (in ``info["metrics"]``) the base model's and θ1's proxy validation accuracy.
    """
    from circuitlab.evaluation import evaluate
    from circuitlab.tuning.deltas import export_hf
    from circuitlab.tuning.masks import ParamMask
    from circuitlab.tuning.trainer import train
    from circuitlab.tuning.tuners import MaskTuner
    from circuitlab.tuning.versions import versions

    if not rebuild and (hit := load_proxy(config, cache_dir)) is not None:
        return hit
    from circuitlab.tuning.deltas import ModelSnapshot
    from circuitlab.tuning.trainer import NonFiniteLossError

    final = proxy_dir(config, cache_dir)
    key = config.key()
    t0 = time.perf_counter()
    model = models.load_model(config.model)  # looked up at call time (tests stub it)
    task = make_task(config.data.dataset, model.tokenizer)
    examples = config.data.proxy_train(config.language, config.n_src, config.seed)
    val = config.data.validation(config.language)

    def val_eval():
        return evaluate(model, task, val, batch_size=eval_batch_size, max_length=config.train.max_length,
                        progress=progress)

    base_val = val_eval()
    grid = config.lr_grid or (config.train.lr,)
    tmp = final.with_name(final.name + f".tmp{os.getpid()}")
    # The base weights on disk (not in memory) to restart each learning rate from them.
    base = ModelSnapshot.take(model, path=tmp.with_name(tmp.name + ".base.safetensors")) if len(grid) > 1 else None
    candidates, best = [], None
    for lr in grid:
        if base is not None:
            base.restore(model)
        tcfg = replace(config.train, lr=lr)
        try:
            result = train(model, task, examples, MaskTuner(ParamMask.full(model, embeddings=True)), tcfg,
                           progress=progress, desc=f"proxy θ1 ({config.language}, lr={lr:g})")
        except NonFiniteLossError as exc:
            candidates.append({"lr": lr, "status": "diverged", "error": str(exc)})
            continue
        v = val_eval()
        cand = {"lr": lr, "status": "ok", "val_acc": v.accuracy, "val_f1": v.macro_f1, "losses": result.losses,
                "steps": result.steps, "train_s": result.wall_s}
        candidates.append(cand)
        if best is None or (v.accuracy, v.macro_f1) > (best["val_acc"], best["val_f1"]):
            best = cand
            if tmp.exists():
                shutil.rmtree(tmp)
            export_hf(model, tmp)  # the best θ1 so far; replaced if a later rate does better on validation
    if best is None:
        raise RuntimeError(f"Every proxy learning rate {list(grid)} diverged; try lower rates (--proxy-lr-grid). "
                           f"First error: {candidates[0]['error']}")
    info = {
        "key": key, "config": config.to_dict(), "base_model": config.model, "versions": versions(),
        "train_examples": [e.id for e in examples], "train_label_counts": label_counts(examples),
        "metrics": {
            "base_val_acc": base_val.accuracy, "base_val_f1": base_val.macro_f1, "lr": best["lr"],
            "proxy_val_acc": best["val_acc"], "proxy_val_f1": best["val_f1"],
            "train_loss_first": best["losses"][0], "train_loss_final": best["losses"][-1], "steps": best["steps"],
            "train_s": sum(c.get("train_s", 0) for c in candidates), "wall_s": time.perf_counter() - t0,
        },
        "candidates": candidates,
        "losses": best["losses"],
    }
    write_json(tmp / "proxy.json", info)
    if base is not None:
        base.values.path.unlink(missing_ok=True)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return ProxyCheckpoint(final, key, info)
