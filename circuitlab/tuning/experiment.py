"""Run tuning methods for several targets and seeds, honestly: choose on validation, report test.

One *run* is (target, method, seed). For each run:

1. start from θ1 (or the base model for ``direct``), restored exactly from an
   in-memory snapshot, so runs never leak into each other;
2. pick the heads (head methods: from the score table computed on θ1, or random
   with the run seed);
3. draw ``shots`` near-balanced target examples from pool B (seeded by the run
   seed; see :mod:`circuitlab.tuning.protocol`);
4. for every learning rate of the grid: train, evaluate target **validation**;
   a diverging learning rate is recorded as such and skipped;
5. keep the learning rate with the best validation accuracy (ties: higher
   validation macro-F1, then the earlier grid entry), put its weights back and
   evaluate target **test** and proxy **test** once;
6. write one row (all metrics, the chosen and tried settings, parameter counts,
   timings, versions) to ``results.jsonl``/``results.csv`` at once, and the run's
   sparse delta to ``runs/<run_id>/delta``.

Before any run, the start models are evaluated once (``before.json``): proxy test
accuracy (the "before" of forgetting) and target test accuracy (A0, the transfer
difficulty). ``forgetting = proxy_acc_before − proxy_acc_after`` against the run's
own start model.

Nothing computed is lost: rows are appended as runs finish, every grid entry is
saved, and ``resume=True`` skips finished runs and grid entries (and continues a
training interrupted with a trainer checkpoint). ``ctsft-auto`` rows (see
:mod:`circuitlab.tuning.auto`) and a mean ± std summary are derived from the rows.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from circuitlab.discovery import HeadScores
from circuitlab.evaluation import evaluate
from circuitlab.heads import HeadSet
from circuitlab.models import load_model
from circuitlab.tasks import make_task
from circuitlab.tuning.auto import AUTO_METHOD, add_auto_rows
from circuitlab.tuning.deltas import (
    ModelSnapshot, SparseDelta, apply_delta, compute_delta, count_changed, save_delta,
)
from circuitlab.tuning.masks import KVRule
from circuitlab.tuning.methods import build_tuner, choose_heads, get_method
from circuitlab.tuning.protocol import DataProtocol, label_counts
from circuitlab.tuning.proxy import ProxyConfig, ensure_proxy
from circuitlab.tuning.trainer import NonFiniteLossError, TrainConfig, train, write_json
from circuitlab.tuning.tuners import LoraSettings
from circuitlab.tuning.versions import versions


def _opt(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: a proxy checkpoint, targets × methods × seeds, and how they are tuned and judged."""

    model: str = _opt("gemma-3-270m", "Base model.")
    proxy: str = _opt("indonesian", "Proxy language (θ1 is tuned on it).")
    targets: tuple[str, ...] = _opt(("javanese",), "Target languages.")
    methods: tuple[str, ...] = _opt(("circuit",), "Tuning methods (see circuitlab.tuning.METHODS); "
                                                  "'ctsft-auto' expands to circuit + nearzero.")
    k: int | float = _opt(8, "Heads per head method (a count, or a fraction of all heads in (0, 1)).")
    shots: int = _opt(100, "Target tuning examples n (near-balanced, from pool B).")
    seeds: tuple[int, ...] = _opt((31, 777, 2025, 12345), "Run seeds (target sample, data order, random heads).")
    kv_rule: str = _opt("any", "GQA K/V rule for head methods: any, all or none.")
    n_src: int = _opt(50, "Proxy tuning examples (θ1).")
    proxy_seed: int = _opt(0, "Seed of θ1's example draw and training order.")
    lr_grid: tuple[float, ...] | None = _opt(None, "Learning rates tried per run (None: each method's default grid).")
    method_lr_grids: dict = _opt(None, "Per-method grids {method: (lr, ...)}, overriding lr_grid for those methods.")
    train: TrainConfig = _opt(TrainConfig(), "Target tuning hyper-parameters (lr and seed are set per run).")
    proxy_train: TrainConfig = _opt(TrainConfig(), "θ1's full fine-tuning hyper-parameters.")
    proxy_lr_grid: tuple[float, ...] | None = _opt(None, "θ1's learning rates, chosen on proxy validation "
                                                         "(None: proxy_train.lr).")
    data: DataProtocol = _opt(DataProtocol(), "Pools, data folder and evaluation subsets.")
    lora: LoraSettings = _opt(LoraSettings(), "LoRA settings of the lora method.")
    scorer: str = _opt("directional", "Discovery scorer used when no score table is given.")
    discovery_n: int = _opt(50, "Discovery set size (correct, label-balanced proxy pool-A examples).")
    eval_batch_size: int = _opt(16, "Evaluation batch size.")
    save_deltas: bool = _opt(True, "Save each run's sparse delta (head/norm/LoRA methods).")
    save_full_deltas: bool = _opt(False, "Also save full/direct runs' deltas (the whole model, ~1 GB each).")
    checkpoint_every: int = _opt(0, "Trainer checkpoint every N steps (0: only on interrupt/divergence).")
    order: str = _opt("target", "Run order: 'target' (all methods of a target first) or 'method' (each method on "
                                "every target first, so partial results cover every target).")
    lr_selection: str = _opt("per_run", "per_run: search the grid in every run; first_seed: search it for the first "
                                        "seed of each (target, method) and reuse the chosen rate for the other seeds.")

    def __post_init__(self) -> None:
        methods: list[str] = []
        for m in self.methods:
            for name in (("circuit", "nearzero") if m == AUTO_METHOD else (m,)):
                get_method(name)  # validates
                if name not in methods:
                    methods.append(name)
        object.__setattr__(self, "methods", tuple(methods))
        object.__setattr__(self, "targets", tuple(self.targets))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        KVRule.parse(self.kv_rule)
        for name in ("lr_grid", "proxy_lr_grid"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, tuple(float(x) for x in getattr(self, name)))
        grids = {str(m): tuple(float(x) for x in g) for m, g in (self.method_lr_grids or {}).items()}
        for m in grids:
            get_method(m)
        object.__setattr__(self, "method_lr_grids", grids or None)
        if self.order not in ("target", "method"):
            raise ValueError(f"order must be 'target' or 'method', got {self.order!r}.")
        if self.lr_selection not in ("per_run", "first_seed"):
            raise ValueError(f"lr_selection must be 'per_run' or 'first_seed', got {self.lr_selection!r}.")
        if not self.targets or not self.seeds:
            raise ValueError("An experiment needs at least one target and one seed.")
        if self.proxy in self.targets:
            raise ValueError(f"The proxy language {self.proxy!r} cannot also be a target.")

    def proxy_config(self) -> ProxyConfig:
        return ProxyConfig(self.model, self.proxy, self.n_src, self.proxy_seed, self.data, self.proxy_train,
                           self.proxy_lr_grid)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["train"], d["proxy_train"] = self.train.to_dict(), self.proxy_train.to_dict()
        return json.loads(json.dumps(d, default=str))

    def grid_for(self, method: str) -> tuple[float, ...]:
        return (self.method_lr_grids or {}).get(method) or self.lr_grid or get_method(method).lr_grid


RESULT_COLUMNS = [
    "run_id", "status", "model", "dataset", "proxy", "target", "method", "start", "k", "shots", "seed", "kv_rule",
    "heads", "lr", "lr_grid", "val_acc_by_lr", "val_acc", "val_f1", "target_acc", "target_f1", "target_acc_before",
    "target_f1_before", "proxy_acc_before", "proxy_acc_after", "proxy_f1_after", "forgetting", "n_params_trainable",
    "frac_params_trainable", "n_params_changed", "frac_params_changed", "n_params_total", "train_loss_first",
    "train_loss_final", "steps", "train_s", "wall_s", "test_n", "proxy_test_n", "train_label_counts", "epochs",
    "batch_size", "max_length", "warmup_ratio", "weight_decay", "schedule", "max_grad_norm", "group_by_length",
    "proxy_key", "delta_dir", "error", "versions",
]


def discover_scores(model, config: ExperimentConfig, progress: bool = True,
                    log: Callable[[str], None] = print) -> HeadScores:
    """Score θ1's heads with the discovery package's scorer on a discovery set from proxy pool A.

    The discovery set is ``discovery_n`` label-balanced examples θ1 classifies correctly. When θ1 gets
    too few examples of some label right (small models rarely predict ``neutral``), the set shrinks to
    the largest balanced size available (at least 3 per label), else that label is left out; what was
    done is logged and stored in ``scores.meta["discovery_fallback"]``.
    """
    try:
        from circuitlab.discovery import DiscoveryError, build_discovery_set, get_scorer, label_balanced_mean
        from circuitlab.evaluation import predict_logits
    except ImportError as exc:
        raise ValueError(
            "circuit/nearzero/least need head scores, and this circuitlab has no discovery scorer "
            f"({exc}). Pass a score table (CLI: --scores PATH from `circuitlab discover`)."
        ) from exc
    task = make_task(config.data.dataset, model.tokenizer)
    pool_a = config.data.pools(config.proxy)[0]
    fallback = None
    try:
        dset = build_discovery_set(model, task, pool_a, config.discovery_n, seed=config.proxy_seed,
                                   progress=progress)
    except DiscoveryError as exc:
        pred = predict_logits(model, task, pool_a, progress=progress).argmax(-1).tolist()
        correct = {lab: sum(task.labels[p] == e.label == lab for e, p in zip(pool_a, pred)) for lab in task.labels}
        labels = [lab for lab in task.labels if correct[lab] >= 3]
        n = min(config.discovery_n, len(labels) * min(correct[lab] for lab in labels)) if labels else 0
        if n < 2 * len(task.labels):
            raise
        fallback = {"requested_n": config.discovery_n, "n": n, "labels": labels, "correct": correct,
                    "reason": str(exc)}
        log(f"[discovery] {exc} -> using n={n} over labels {labels} instead")
        dset = build_discovery_set(model, task, pool_a, n, seed=config.proxy_seed, labels=labels, progress=progress)
    examples = list(dset.examples)
    mean = label_balanced_mean(model, task, examples, progress=progress)
    scores = get_scorer(config.scorer).score(model, task, examples, mean=mean, seed=config.proxy_seed)
    scores.meta.setdefault("discovery_set", dset.to_dict())
    if fallback:
        scores.meta["discovery_fallback"] = fallback
    return scores


@dataclass
class _Best:
    """The best grid entry of a run and its weights (kept on disk when large, e.g. full fine-tuning)."""

    entry: dict
    delta: SparseDelta

    @classmethod
    def keep(cls, entry: dict, model, mask, spill_dir: Path, limit_mb: float = 256.0) -> "_Best":
        delta = compute_delta(model, mask)
        if mask.n_trainable * 4 / 2**20 > limit_mb:
            from safetensors.torch import save_file

            spill_dir.mkdir(parents=True, exist_ok=True)
            save_file(delta.after, str(spill_dir / "best_after.safetensors"))
            delta.after = {}
        return cls(entry, delta)

    def weights(self, spill_dir: Path) -> SparseDelta:
        if not self.delta.after:
            from safetensors.torch import load_file

            self.delta.after = load_file(str(spill_dir / "best_after.safetensors"))
        return self.delta


class Experiment:
    """Runs an :class:`ExperimentConfig` into ``out_dir`` (see the module docstring for the layout)."""

    def __init__(
        self, config: ExperimentConfig, out_dir: str | Path, *, scores: HeadScores | None = None,
        heads: HeadSet | None = None, cache_dir: str | Path | None = None, resume: bool = False,
        progress: bool = True, log: Callable[[str], None] = print,
        scorer: Callable[[object, ExperimentConfig], HeadScores] | None = None,
    ):
        self.config, self.out = config, Path(out_dir)
        self.scores, self.heads = scores, heads
        self.cache_dir, self.resume, self.progress, self.log = cache_dir, resume, progress, log
        self.scorer = scorer or (lambda model, cfg: discover_scores(model, cfg, progress, log))
        self.model = None
        self.snapshots: dict[str, ModelSnapshot] = {}
        self.before: dict = {}

    # ----------------------------------------------------------------- files
    @property
    def results_path(self) -> Path:
        return self.out / "results.jsonl"

    def done_rows(self) -> list[dict]:
        if not self.results_path.exists():
            return []
        return [json.loads(line) for line in self.results_path.read_text().splitlines() if line.strip()]

    def _append_row(self, row: dict) -> None:
        with self.results_path.open("a") as fh:
            fh.write(json.dumps(row, default=str) + "\n")
        self.write_tables()

    def write_tables(self) -> pd.DataFrame:
        """Rewrite ``results.csv`` (with ``ctsft-auto`` rows) and ``summary.csv``/``summary.md`` from the rows."""
        rows = self.done_rows()
        if not rows:
            return pd.DataFrame(columns=RESULT_COLUMNS)
        df = add_auto_rows(pd.DataFrame(rows))
        df.to_csv(self.out / "results.csv", index=False)
        summary = summarize(df)
        summary.to_csv(self.out / "summary.csv", index=False)
        (self.out / "summary.md").write_text(summary_markdown(summary))
        return df

    # ----------------------------------------------------------------- stages
    def _prepare(self) -> None:
        cfg = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        cpath = self.out / "config.json"
        if cpath.exists() and self.resume:
            saved = json.loads(cpath.read_text())
            if saved != cfg.to_dict():
                diff = sorted(k for k in cfg.to_dict() if saved.get(k) != cfg.to_dict()[k])
                raise ValueError(f"Cannot resume {self.out}: the experiment config differs in {diff}. "
                                 "Use a new --out folder or the same settings.")
        write_json(cpath, cfg.to_dict())
        self.log(f"[proxy] θ1: full fine-tuning of {cfg.model} on {cfg.n_src} {cfg.proxy} examples (built once, then cached)")
        self.proxy = ensure_proxy(cfg.proxy_config(), self.cache_dir, progress=self.progress,
                                  eval_batch_size=cfg.eval_batch_size)
        write_json(self.out / "proxy.json", {"path": str(self.proxy.path), **self.proxy.info})
        m = self.proxy.metrics
        self.log(f"[proxy] θ1 {self.proxy.path.name}: proxy val acc {m.get('proxy_val_acc', float('nan')):.3f} "
                 f"at lr {m.get('lr')} (base {m.get('base_val_acc', float('nan')):.3f})")
        self.model = self.proxy.load()
        self.task = make_task(cfg.data.dataset, self.model.tokenizer)
        # Snapshots live on disk (read back one tensor at a time): a full copy in memory would be 1 GB each.
        snap_dir = self.out / "snapshots"
        self.snapshots["proxy"] = ModelSnapshot.take(self.model, path=snap_dir / "proxy.safetensors")
        if any(get_method(m).start == "base" for m in cfg.methods):
            base = load_model(cfg.model)
            self.snapshots["base"] = ModelSnapshot.take(base, path=snap_dir / "base.safetensors")
            del base
        self._evaluate_before()
        if any(get_method(m).needs_scores for m in cfg.methods) and self.heads is None:
            self._ensure_scores()

    def _eval(self, examples, desc: str):
        return evaluate(self.model, self.task, examples, batch_size=self.config.eval_batch_size,
                        max_length=self.config.train.max_length, progress=self.progress)

    def _evaluate_before(self) -> None:
        cfg = self.config
        path = self.out / "before.json"
        self.before = json.loads(path.read_text()) if path.exists() and self.resume else {}
        for start in self.snapshots:
            if start in self.before and all(t in self.before[start]["targets"] for t in cfg.targets):
                continue
            self.snapshots[start].restore(self.model)
            entry = self.before.get(start) or {}
            if "proxy_test_acc" not in entry:
                r = self._eval(cfg.data.test(cfg.proxy), "proxy test")
                entry.update(proxy_test_acc=r.accuracy, proxy_test_f1=r.macro_f1, proxy_test_n=r.n)
            entry.setdefault("targets", {})
            for t in cfg.targets:
                if t in entry["targets"]:
                    continue
                test, val = self._eval(cfg.data.test(t), f"{t} test"), self._eval(cfg.data.validation(t), f"{t} val")
                entry["targets"][t] = {"test_acc": test.accuracy, "test_f1": test.macro_f1, "test_n": test.n,
                                       "val_acc": val.accuracy, "val_f1": val.macro_f1}
            self.before[start] = entry
            write_json(path, self.before)
            accs = ", ".join(f"{t} {v['test_acc']:.3f}" for t, v in entry["targets"].items())
            self.log(f"[before] {start}: proxy test acc {entry['proxy_test_acc']:.3f}; target test acc (A0) {accs}")

    def _ensure_scores(self) -> None:
        path = self.out / "scores.csv"
        if self.scores is None and path.exists() and self.resume:
            self.scores = HeadScores.load(path)
        if self.scores is None:
            self.log(f"[discovery] scoring θ1's heads with {self.config.scorer!r} on {self.config.proxy} pool A")
            self.snapshots["proxy"].restore(self.model)
            self.scores = self.scorer(self.model, self.config)
        self.scores.save(path)

    # ----------------------------------------------------------------- runs
    def run(self) -> pd.DataFrame:
        """Run every (target, method, seed) not yet in ``results.jsonl``; returns the results table."""
        self._prepare()
        cfg = self.config
        done = {r["run_id"] for r in self.done_rows()} if self.resume else set()
        if not self.resume and self.results_path.exists():
            self.results_path.unlink()
        if cfg.order == "target":
            plan = [(t, m, s) for t in cfg.targets for m in cfg.methods for s in cfg.seeds]
        else:
            plan = [(t, m, s) for m in cfg.methods for t in cfg.targets for s in cfg.seeds]
        for target, method, seed in tqdm(plan, desc="runs", disable=not self.progress):
            run_id = f"{target}-{method}-k{cfg.k}-n{cfg.shots}-s{seed}"
            if run_id in done:
                continue
            row = self.run_one(run_id, target, method, seed)
            self._append_row(row)
            self.log(f"[run] {run_id}: {row['status']} lr={row['lr']} val={_f(row['val_acc'])} "
                     f"target={_f(row['target_acc'])} proxy {_f(row['proxy_acc_before'])}->{_f(row['proxy_acc_after'])} "
                     f"params {row['n_params_trainable']} ({_f(100 * (row['frac_params_trainable'] or 0), 3)} %) "
                     f"{row['wall_s']:.0f}s")
        shutil.rmtree(self.out / "snapshots", ignore_errors=True)
        return self.write_tables()

    def run_one(self, run_id: str, target: str, method: str, seed: int) -> dict:
        cfg, model = self.config, self.model
        spec = get_method(method)
        t0 = time.perf_counter()
        run_dir = self.out / "runs" / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        start = spec.start
        snapshot = self.snapshots[start]
        heads = choose_heads(spec, model.geometry, cfg.k, self.scores, seed=seed, heads=self.heads)
        examples = cfg.data.target_train(target, cfg.shots, seed)
        val = cfg.data.validation(target)
        grid = self._grid(target, method, seed)
        entries: list[dict] = []
        kept: _Best | None = None  # the best run trained in this call (its weights are kept)
        for lr in grid:
            epath = run_dir / f"lr_{lr:g}.json"
            if self.resume and epath.exists():
                entries.append(json.loads(epath.read_text()))
                continue
            snapshot.restore(model)
            torch.manual_seed(seed)
            tuner = build_tuner(spec, model, heads=heads, kv_rule=cfg.kv_rule, lora=cfg.lora)
            tcfg = replace(cfg.train, lr=lr, seed=seed)
            try:
                res = train(model, self.task, examples, tuner, tcfg, checkpoint_dir=run_dir / f"ckpt_lr_{lr:g}",
                            checkpoint_every=cfg.checkpoint_every, resume=self.resume, progress=self.progress,
                            desc=f"{run_id} lr={lr:g}")
            except NonFiniteLossError as exc:
                entry = {"lr": lr, "status": "diverged", "error": str(exc), "step": exc.step}
                self.log(f"[run] {run_id} lr={lr:g} diverged at step {exc.step}; trying the next learning rate")
                write_json(epath, entry)
                entries.append(entry)
                continue
            v = self._eval(val, f"{target} val")
            entry = {"lr": lr, "status": "ok", "val_acc": v.accuracy, "val_f1": v.macro_f1, "steps": res.steps,
                     "train_s": res.wall_s, "loss_first": res.losses[0], "loss_final": res.final_loss,
                     "n_trainable": res.n_trainable, "tuner": tuner.describe()}
            write_json(epath, entry)
            entries.append(entry)
            if kept is None or _rank(entry, grid) > _rank(kept.entry, grid):
                kept = _Best.keep(entry, model, tuner.mask, run_dir)
        ok = [e for e in entries if e["status"] == "ok"]
        best: _Best | None = None
        if ok:
            top = max(ok, key=lambda e: _rank(e, grid))
            # After a resume the best grid entry may have been trained by an earlier call: train it again.
            best = kept if kept is not None and kept.entry["lr"] == top["lr"] else self._retrain(
                spec, heads, examples, seed, top, snapshot, run_id)
        row = self._base_row(run_id, target, method, seed, start, heads, grid, entries, examples)
        if best is None:
            row.update(status="diverged", error="; ".join(e.get("error", "") for e in entries)[:2000],
                       wall_s=time.perf_counter() - t0)
            snapshot.restore(model)
            return row
        snapshot.restore(model)
        apply_delta(model, best.weights(run_dir), check_base=False)
        best.delta.after = {}  # free it: the model holds the weights now
        (run_dir / "best_after.safetensors").unlink(missing_ok=True)
        test = self._eval(cfg.data.test(target), f"{target} test")
        proxy_test = self._eval(cfg.data.test(cfg.proxy), "proxy test")
        mask = best.delta.mask
        n_changed = count_changed(model, mask, snapshot)
        total = mask.total
        before = self.before[start]
        row.update(
            status="ok", lr=best.entry["lr"], val_acc=best.entry["val_acc"], val_f1=best.entry["val_f1"],
            target_acc=test.accuracy, target_f1=test.macro_f1, proxy_acc_after=proxy_test.accuracy,
            proxy_f1_after=proxy_test.macro_f1, forgetting=before["proxy_test_acc"] - proxy_test.accuracy,
            n_params_trainable=best.entry["n_trainable"], frac_params_trainable=best.entry["n_trainable"] / total,
            n_params_changed=n_changed, frac_params_changed=n_changed / total, n_params_total=total,
            train_loss_first=best.entry["loss_first"], train_loss_final=best.entry["loss_final"],
            steps=best.entry["steps"], train_s=sum(e.get("train_s", 0) for e in ok), test_n=test.n,
            proxy_test_n=proxy_test.n,
        )
        sparse = method not in ("full", "direct")
        if cfg.save_deltas and (sparse or cfg.save_full_deltas):
            delta = compute_delta(model, mask, snapshot)
            delta.manifest.update(
                base={"model": cfg.model, "start": start, "proxy_key": self.proxy.key if start == "proxy" else None,
                      "proxy_path": str(self.proxy.path) if start == "proxy" else None},
                method=method, target=target, seed=seed, heads=heads.to_list() if heads is not None else None,
                kv_rule=cfg.kv_rule, lr=row["lr"], metrics={k: row[k] for k in (
                    "val_acc", "target_acc", "target_f1", "proxy_acc_before", "proxy_acc_after", "forgetting")},
                train_config=replace(cfg.train, lr=row["lr"], seed=seed).to_dict(), versions=versions(),
            )
            row["delta_dir"] = str(save_delta(delta, run_dir / "delta"))
        for ck in run_dir.glob("ckpt_lr_*"):
            shutil.rmtree(ck, ignore_errors=True)
        snapshot.restore(model)
        row["wall_s"] = time.perf_counter() - t0
        return row

    def _grid(self, target: str, method: str, seed: int) -> tuple[float, ...]:
        cfg = self.config
        grid = cfg.grid_for(method)
        if cfg.lr_selection == "first_seed" and seed != cfg.seeds[0]:
            first = [r for r in self.done_rows() if r["target"] == target and r["method"] == method
                     and r["seed"] == cfg.seeds[0] and r["k"] == (cfg.k if get_method(method).uses_heads else None)]
            if first and first[-1]["status"] == "ok":
                return (float(first[-1]["lr"]),)
        return grid

    def _retrain(self, spec, heads, examples, seed, entry, snapshot, run_id) -> _Best:
        snapshot.restore(self.model)
        torch.manual_seed(seed)
        tuner = build_tuner(spec, self.model, heads=heads, kv_rule=self.config.kv_rule, lora=self.config.lora)
        train(self.model, self.task, examples, tuner, replace(self.config.train, lr=entry["lr"], seed=seed),
              progress=self.progress, desc=f"{run_id} lr={entry['lr']:g} (again)")
        return _Best.keep(entry, self.model, tuner.mask, self.out / "runs" / run_id)

    def _base_row(self, run_id, target, method, seed, start, heads, grid, entries, examples) -> dict:
        cfg = self.config
        before = self.before[start]
        t = cfg.train
        row = dict.fromkeys(RESULT_COLUMNS)
        row.update(
            run_id=run_id, model=cfg.model, dataset=cfg.data.dataset, proxy=cfg.proxy, target=target, method=method,
            start=start, k=cfg.k if get_method(method).uses_heads else None, shots=cfg.shots, seed=seed,
            kv_rule=cfg.kv_rule if get_method(method).uses_heads else None,
            heads=" ".join(map(str, heads)) if heads is not None else None, lr_grid=json.dumps(list(grid)),
            val_acc_by_lr=json.dumps({f"{e['lr']:g}": e.get("val_acc", e["status"]) for e in entries}),
            target_acc_before=before["targets"][target]["test_acc"],
            target_f1_before=before["targets"][target]["test_f1"], proxy_acc_before=before["proxy_test_acc"],
            train_label_counts=json.dumps(label_counts(examples)), epochs=t.epochs, batch_size=t.batch_size,
            max_length=t.max_length, warmup_ratio=t.warmup_ratio, weight_decay=t.weight_decay, schedule=t.schedule,
            max_grad_norm=t.max_grad_norm, group_by_length=t.group_by_length, proxy_key=self.proxy.key,
            versions=json.dumps(versions()),
        )
        return row


def _f(x, digits: int = 3) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


SUMMARY_METRICS = ("target_acc", "target_f1", "val_acc", "proxy_acc_before", "proxy_acc_after", "forgetting",
                   "frac_params_trainable", "train_s", "wall_s")


def summarize(results: pd.DataFrame, by: Sequence[str] = ("proxy", "target", "method", "shots")) -> pd.DataFrame:
    """Mean ± std over seeds of the main metrics, per ``by`` group (successful runs only)."""
    df = results[results["status"] == "ok"] if "status" in results else results
    by = [b for b in by if b in df.columns]
    rows = []
    for key, g in df.groupby(by, sort=False, dropna=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row["n_seeds"] = len(g)
        for m in SUMMARY_METRICS:
            if m in g:
                vals = pd.to_numeric(g[m], errors="coerce")
                row[f"{m}_mean"], row[f"{m}_std"] = vals.mean(), vals.std(ddof=1) if len(vals) > 1 else float("nan")
        if "lr" in g:
            row["lrs"] = " ".join(sorted({f"{x:g}" for x in g["lr"].dropna()}))
        if "auto_branch" in g and g["auto_branch"].notna().any():
            row["auto_branches"] = " ".join(str(b) for b in g["auto_branch"])
        rows.append(row)
    return pd.DataFrame(rows)


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary as a Markdown table (mean ± std)."""
    def pm(r, m, d=3):
        mu, sd = r.get(f"{m}_mean"), r.get(f"{m}_std")
        if mu is None or pd.isna(mu):
            return "–"
        return f"{mu:.{d}f}" + (f" ± {sd:.{d}f}" if sd is not None and not pd.isna(sd) else "")

    head = ("| target | method | n | seeds | target acc | target F1 | proxy acc before → after | forgetting | "
            "% params | lr | train s |")
    lines = [head, "|" + "---|" * 11]
    for _, r in summary.iterrows():
        r = r.to_dict()
        lines.append(
            f"| {r.get('target')} | {r.get('method')} | {r.get('shots')} | {r.get('n_seeds')} | {pm(r, 'target_acc')} | "
            f"{pm(r, 'target_f1')} | {pm(r, 'proxy_acc_before')} → {pm(r, 'proxy_acc_after')} | {pm(r, 'forgetting')} | "
            f"{100 * r.get('frac_params_trainable_mean', float('nan')):.3f} | {r.get('lrs', '')} | "
            f"{r.get('train_s_mean', float('nan')):.0f} |"
        )
    return "\n".join(lines) + "\n"


def run_experiment(config: ExperimentConfig, out_dir: str | Path, **kwargs) -> pd.DataFrame:
    """Shortcut for ``Experiment(config, out_dir, **kwargs).run()``."""
    return Experiment(config, out_dir, **kwargs).run()


def _rank(entry: dict, grid: Sequence[float]) -> tuple:
    """Validation accuracy, then macro-F1, then the earlier grid entry."""
    return (entry["val_acc"], entry["val_f1"], -list(grid).index(entry["lr"]) if entry["lr"] in grid else 0)


__all__ = ["Experiment", "ExperimentConfig", "RESULT_COLUMNS", "discover_scores", "run_experiment", "summarize",
           "summary_markdown"]
