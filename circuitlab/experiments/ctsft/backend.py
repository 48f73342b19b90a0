"""The ``ctsft`` backend: the real CT-SFT pipeline behind the sweep's stages and cells.

Context
-------
The sweep decides *what* runs and *where it is stored*; this backend maps each
stage and cell onto the public API of :mod:`circuitlab.tuning` and
:mod:`circuitlab.discovery`:

==============  =====================================================================================
stage / cell    work
==============  =====================================================================================
``proxy``       :func:`circuitlab.tuning.ensure_proxy`: full fine-tuning on ``n_src`` proxy examples of
                pool A; θ1 is written as a Hugging Face folder *inside the stage folder* of the run
``scores``      :func:`~circuitlab.discovery.build_discovery_set` on pool A (of the proxy, or of a target
                for the report's overlap), :func:`~circuitlab.discovery.label_balanced_mean`, then the
                scorer at depth 0, or :func:`~circuitlab.discovery.grow_circuit` for ``depth > 0``
``baseline``    :func:`~circuitlab.evaluation.evaluate` of θ1 (or the base model) on a test split
cell            :meth:`circuitlab.tuning.Experiment.run_one`: learning rate chosen on target validation,
                target and proxy test accuracy, forgetting, the sparse delta
==============  =====================================================================================

Every stage and cell runs under the spec's ``model.matmul_precision``
(:func:`circuitlab.models.matmul_precision`), in the driver and in Ray workers alike.

The model is loaded once per process and kept in the run context's cache (with
an exact parameter snapshot of θ1 that every cell restores), so a sequential sweep
pays the load once and a Ray worker once per worker.

Which examples each stage sees is :class:`circuitlab.tuning.DataProtocol`'s (pool A
for θ1 and discovery, pool B for the target examples, validation for choices,
test for reports), extended here by :class:`SpecProtocol` for datasets whose
splits have other names (XNLI: the pools *and* validation come from ``dev``, disjoint).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from circuitlab.experiments.cells import Cell, CellResult, RunContext, Stage, StageOutput

if TYPE_CHECKING:
    from circuitlab.experiments.spec import ExperimentSpec

#: Default split names per dataset: (train pools, validation, test).
DEFAULT_SPLITS = {"nusax": ("train", "valid", "test"), "xnli": ("dev", "dev", "test")}
#: Result columns of circuitlab.tuning renamed to the experiment layer's names.
RENAMED = {"frac_params_trainable": "param_fraction", "n_params_trainable": "n_params_updated"}
#: Columns kept in the cell's metadata, not in the results table.
META_ONLY = ("versions", "delta_dir", "run_id", "error")


def _protocol_class():
    from circuitlab.data import load_examples
    from circuitlab.tuning import DataProtocol

    @dataclass(frozen=True)
    class SpecProtocol(DataProtocol):
        """:class:`~circuitlab.tuning.DataProtocol` with the spec's split names.

        When validation comes from the same split as the pools (XNLI ``dev``), it is
        drawn from the examples in neither pool, so that no validation example is ever
        trained on or used for discovery.
        """

        train_split: str = "train"
        valid_split: str = "valid"
        test_split: str = "test"

        def _split(self, language: str, split: str):
            real = {"train": self.train_split, "valid": self.valid_split, "test": self.test_split}.get(split, split)
            return load_examples(self.dataset, language, real, self.data_dir)

        def validation(self, language: str):
            if self.valid_split != self.train_split:
                return super().validation(language)
            a, b = self.pools(language)
            used = {e.id for e in a} | {e.id for e in b}
            rest = [e for e in self._split(language, "valid") if e.id not in used]
            return self._limited(rest, self.val_limit)

    return SpecProtocol


def protocol_for(spec: "ExperimentSpec"):
    """The data protocol of ``spec`` (pools, splits, evaluation subsets)."""
    d, ev, pt = spec.data, spec.evaluation, spec.proxy_tuning
    train, valid, test = DEFAULT_SPLITS.get(d.dataset, ("train", "valid", "test"))
    return _protocol_class()(
        dataset=d.dataset, data_dir=d.data_dir, pool_a=pt.pool_a, pool_b=pt.pool_b, pool_seed=d.pool_seed,
        test_limit=ev.n_test or None, val_limit=ev.n_valid or None, train_split=d.train_split or train,
        valid_split=d.valid_split or valid, test_split=d.test_split or test,
    )


#: ExperimentConfig fields that the spec's own fields set per cell; never through ``options``.
RESERVED = {
    "model": "model.name", "proxy": "data.proxy", "targets": "data.targets", "methods": "grid.methods",
    "k": "grid.k", "shots": "grid.shots", "seeds": "grid.seeds", "kv_rule": "tuning.kv_rule",
    "n_src": "proxy_tuning.n_src", "proxy_seed": "proxy_tuning.seed", "lr_grid": "tuning.lr_grid",
    "method_lr_grids": "tuning.per_method", "train": "tuning", "proxy_train": "proxy_tuning", "data": "data",
    "scorer": "discovery.scorer", "discovery_n": "discovery.n_examples", "eval_batch_size": "evaluation.batch_size",
    "lr": "tuning.lr", "seed": "grid.seeds",
    # choices across the runs of one experiment: every cell here is its own run
    "order": "the sweep's cell order", "lr_selection": "tuning.lr_grid (each cell searches its own grid)",
}


def _split_options(options: dict[str, Any], classes: list[type], path: str) -> list[dict[str, Any]]:
    """Distribute ``options`` over the dataclasses whose field they name; unknown or reserved keys are errors."""
    from circuitlab.experiments.spec import SpecError

    out: list[dict[str, Any]] = [{} for _ in classes]
    for key, value in options.items():
        if key in RESERVED:
            raise SpecError(f"{path}.{key}", f"set by the spec ({RESERVED[key]}), not through options.")
        for i, cls in enumerate(classes):
            if key in {f.name for f in dataclasses.fields(cls)}:
                out[i][key] = tuple(value) if isinstance(value, list) else value
                break
        else:
            valid = sorted({f.name for cls in classes for f in dataclasses.fields(cls)})
            raise SpecError(f"{path}.{key}", f"not an option of the tuning package; valid: {', '.join(valid)}.")
    return out


def train_config(section, lr: float | None = None, extra: dict[str, Any] | None = None):
    """A :class:`circuitlab.tuning.TrainConfig` from a spec section (``proxy_tuning`` or ``tuning``)."""
    from circuitlab.tuning import TrainConfig

    return TrainConfig(lr=lr if lr is not None else section.lr, epochs=section.epochs, batch_size=section.batch_size,
                       max_length=section.max_length, warmup_ratio=section.warmup,
                       **({"weight_decay": section.weight_decay} if hasattr(section, "weight_decay") else {}),
                       **(extra or {}))


def proxy_config(spec: "ExperimentSpec", proxy: str):
    """The :class:`circuitlab.tuning.ProxyConfig` of θ1 for ``proxy``."""
    from circuitlab.tuning import ProxyConfig, TrainConfig

    pt = spec.proxy_tuning
    (train_opts,) = _split_options(pt.options, [TrainConfig], "proxy_tuning.options")
    return ProxyConfig(spec.model.name, proxy, pt.n_src, pt.seed, protocol_for(spec),
                       train_config(pt, extra=train_opts))


def experiment_config(spec: "ExperimentSpec", cell: Cell):
    """The :class:`circuitlab.tuning.ExperimentConfig` of one cell (one target, method and seed)."""
    from circuitlab.tuning import ExperimentConfig, TrainConfig

    tu = spec.tuning.for_method(cell.method)
    train_opts, exp_opts = _split_options(tu.options, [TrainConfig, ExperimentConfig], "tuning.options")
    pt = spec.proxy_tuning
    (proxy_opts,) = _split_options(pt.options, [TrainConfig], "proxy_tuning.options")
    return ExperimentConfig(**{
        "model": spec.model.name, "proxy": cell.proxy, "targets": (cell.target,), "methods": (cell.method,),
        "k": cell.k if cell.k is not None else 1, "shots": cell.shots, "seeds": (cell.seed,), "kv_rule": tu.kv_rule,
        "n_src": pt.n_src, "proxy_seed": pt.seed, "lr_grid": tuple(tu.lr_grid) or (tu.lr,),
        "train": train_config(tu, extra=train_opts), "proxy_train": train_config(pt, extra=proxy_opts),
        "data": protocol_for(spec), "scorer": spec.discovery.scorer, "discovery_n": spec.discovery.n_examples,
        "eval_batch_size": spec.evaluation.batch_size, **exp_opts,
    })


class CTSFTBackend:
    """Stages and cells of the real pipeline (see the module docstring).

    Args:
        dtype: overrides ``model.dtype`` of the spec (default: the spec's).
    """

    name = "ctsft"

    def __init__(self, **options: Any) -> None:
        if options:
            raise ValueError(f"The ctsft backend takes no backend_options (got {sorted(options)}); put settings in "
                             "the spec's sections (tuning.options, discovery.options, ...).")

    # -- models, loaded once per process ------------------------------------------------------

    @staticmethod
    def _load(spec: "ExperimentSpec", name: str):
        import torch

        from circuitlab.models import load_model

        if spec.runtime.quiet:  # transformers' own "Loading weights" bars
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        return load_model(name, device=spec.model.device, dtype=getattr(torch, spec.model.dtype))

    def _theta1(self, proxy: StageOutput, ctx: RunContext):
        """θ1 of the proxy stage, with exactly θ1's weights (restored from the snapshot when cached)."""
        from circuitlab.tuning import ModelSnapshot

        entry = ctx.cache.get(("theta1", proxy.stage.id))
        if entry is None:
            for key in [k for k in ctx.cache if isinstance(k, tuple) and k[0] in ("theta1", "engine")]:
                del ctx.cache[key]  # one θ1 per process: a sweep with several proxies swaps them
            model = self._load(ctx.spec, str(proxy.path / proxy.summary["checkpoint"]))
            entry = (model, ModelSnapshot.take(model))
            ctx.cache[("theta1", proxy.stage.id)] = entry
        model, snapshot = entry
        snapshot.restore(model)
        return model, snapshot

    def _task(self, spec: "ExperimentSpec", model):
        from circuitlab.tasks import make_task

        return make_task(spec.data.dataset, model.tokenizer)

    # -- stages ---------------------------------------------------------------------------------

    def run_stage(self, stage: Stage, deps: dict[str, StageOutput], ctx: RunContext) -> dict[str, Any]:
        from circuitlab.models import matmul_precision

        run = {"proxy": self._proxy_stage, "scores": self._scores_stage, "baseline": self._baseline_stage}[stage.kind]
        with matmul_precision(ctx.spec.model.matmul_precision):
            return run(stage, deps, ctx)

    def _proxy_stage(self, stage: Stage, deps: dict[str, StageOutput], ctx: RunContext) -> dict[str, Any]:
        from circuitlab.tuning import ensure_proxy

        spec = ctx.spec
        if spec.runtime.quiet:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        cp = ensure_proxy(proxy_config(spec, stage.proxy or ""), cache_dir=ctx.work_dir, progress=ctx.progress,
                          eval_batch_size=spec.evaluation.batch_size)
        return {"checkpoint": str(cp.path.relative_to(ctx.work_dir)), "key": cp.key, **cp.metrics}

    def _scores_stage(self, stage: Stage, deps: dict[str, StageOutput], ctx: RunContext) -> dict[str, Any]:
        from circuitlab.discovery import get_scorer, grow_circuit, label_balanced_mean

        spec, disc = ctx.spec, ctx.spec.discovery
        model, _ = self._theta1(deps["proxy"], ctx)
        task = self._task(spec, model)
        language = stage.language or stage.proxy or ""
        pool_a = protocol_for(spec).pools(language)[0]
        t0 = time.perf_counter()
        dset, fallback = discovery_set(model, task, pool_a, spec, ctx)
        examples = list(dset.examples)
        scorer = get_scorer(disc.scorer, **disc.options)
        growth = None
        if disc.depth > 0:
            growth = grow_circuit(model, task, examples, scorer=scorer, depth=disc.depth, k=disc.per_depth,
                                  seed=disc.seed, batch_size=disc.batch_size)
            scores = growth.depths[0].scores
            (ctx.work_dir / "growth.json").write_text(json.dumps(growth.to_dict(), indent=2, default=str))
            growth.table().to_parquet(ctx.work_dir / "growth.parquet", index=False)
        else:
            mean = label_balanced_mean(model, task, examples, pooling=scorer.config.pooling,
                                       batch_size=disc.batch_size, max_length=scorer.config.max_length)
            scores = scorer.score(model, task, examples, mean=mean, seed=disc.seed, batch_size=disc.batch_size)
        scores.meta.setdefault("discovery_set", dset.to_dict())
        if fallback:
            scores.meta["discovery_fallback"] = fallback
        scores.save(ctx.work_dir / "scores.parquet")
        order = growth_order(scores, growth)
        return {"scores": "scores.parquet", "language": language, "n_examples": len(examples),
                "discovery_labels": sorted(dset.per_label), "discovery_fallback": bool(fallback),
                "discovery_pool_accuracy": dset.accuracy, "depth": disc.depth,
                "growth_order": [[h.layer, h.head] for h in order] if growth is not None else None,
                "seconds": time.perf_counter() - t0}

    def _baseline_stage(self, stage: Stage, deps: dict[str, StageOutput], ctx: RunContext) -> dict[str, Any]:
        from circuitlab.evaluation import evaluate

        spec = ctx.spec
        if "proxy" in deps:
            model, _ = self._theta1(deps["proxy"], ctx)
        else:
            model = ctx.cache.get("base_model")
            if model is None:  # kept for the next base baseline and for direct cells' snapshot
                model = ctx.cache["base_model"] = self._load(spec, spec.model.name)
        task = self._task(spec, model)
        examples = protocol_for(spec).test(stage.language or "")
        r = evaluate(model, task, examples, batch_size=spec.evaluation.batch_size,
                     max_length=spec.evaluation.max_length, progress=ctx.progress)
        return {"accuracy": r.accuracy, "macro_f1": r.macro_f1, "n": r.n, "pred_counts": r.pred_counts,
                "model": "theta1" if "proxy" in deps else "base"}

    # -- cells ----------------------------------------------------------------------------------

    def _engine(self, cell: Cell, stages: dict[str, StageOutput], ctx: RunContext):
        """The tuning package's :class:`~circuitlab.tuning.Experiment`, attached to this process's model."""
        from circuitlab.discovery import HeadScores
        from circuitlab.tuning import Experiment, ModelSnapshot, ProxyCheckpoint

        spec = ctx.spec
        key = ("engine", stages["proxy"].stage.id if "proxy" in stages else "base")
        exp = ctx.cache.get(key)
        if exp is None:
            exp = Experiment(experiment_config(spec, cell), ctx.work_dir, progress=ctx.progress,
                             log=ctx.logger.info)
            if "proxy" in stages:
                p = stages["proxy"]
                exp.model, snapshot = self._theta1(p, ctx)
                exp.snapshots["proxy"] = snapshot
                path = p.path / p.summary["checkpoint"]
                info = json.loads((path / "proxy.json").read_text())
                exp.proxy = ProxyCheckpoint(path, p.summary["key"], info)
            else:  # only base-model cells (direct): no θ1 in this sweep
                exp.model = ctx.cache.pop("base_model", None) or self._load(spec, spec.model.name)
                exp.proxy = ProxyCheckpoint(Path(""), "", {})
            exp.task = self._task(spec, exp.model)
            ctx.cache[key] = exp
        if cell.info.from_proxy is False and "base" not in exp.snapshots:
            if "proxy" in stages:
                base = ctx.cache.pop("base_model", None) or self._load(spec, spec.model.name)
                exp.snapshots["base"] = ModelSnapshot.take(base)
                del base
            else:
                exp.snapshots["base"] = ModelSnapshot.take(exp.model)
        if "scores" in stages:
            s = stages["scores"]
            sid = s.stage.id
            if getattr(exp, "_scores_id", None) != sid:
                exp.scores = HeadScores.load(s.path / s.summary["scores"])
                exp._scores_id = sid
        return exp

    def run_cell(self, cell: Cell, stages: dict[str, StageOutput], ctx: RunContext) -> CellResult:
        from circuitlab.models import matmul_precision

        with matmul_precision(ctx.spec.model.matmul_precision):
            result = self._run_cell(cell, stages, ctx)
        result.row["matmul_precision"] = ctx.spec.model.matmul_precision
        return result

    def _run_cell(self, cell: Cell, stages: dict[str, StageOutput], ctx: RunContext) -> CellResult:
        from circuitlab.heads import HeadSet

        spec = ctx.spec
        exp = self._engine(cell, stages, ctx)
        exp.config = experiment_config(spec, cell)
        exp.out = ctx.work_dir
        exp.progress = ctx.progress
        start = "proxy" if cell.info.from_proxy else "base"
        bt, bp = stages["before_target"].summary, stages["before_proxy"].summary
        exp.before = {start: {"proxy_test_acc": bp["accuracy"], "proxy_test_f1": bp["macro_f1"],
                              "proxy_test_n": bp["n"],
                              "targets": {cell.target: {"test_acc": bt["accuracy"], "test_f1": bt["macro_f1"],
                                                        "test_n": bt["n"]}}}}
        exp.heads = None
        order = stages["scores"].summary.get("growth_order") if "scores" in stages else None
        if cell.method == "circuit" and order and cell.k is not None:
            # depth > 0: the circuit is CD-T's growth order (depth 0's heads first), cut at k
            exp.heads = HeadSet.of(circuit_from_order(order, cell.k, exp.scores, exp.model.geometry))
        row = exp.run_one(cell.id, cell.target, cell.method, cell.seed)
        run_dir = ctx.work_dir / "runs" / cell.id
        if (run_dir / "delta").exists():
            shutil.move(str(run_dir / "delta"), ctx.work_dir / "delta")
        shutil.rmtree(ctx.work_dir / "runs", ignore_errors=True)
        for name in ("results.jsonl", "results.csv", "summary.csv", "summary.md", "config.json"):
            (ctx.work_dir / name).unlink(missing_ok=True)
        meta = {k: row.pop(k, None) for k in META_ONLY}
        if isinstance(meta.get("versions"), str):
            meta["versions"] = json.loads(meta["versions"])
        meta["delta"] = "delta" if (ctx.work_dir / "delta").exists() else None
        for old, new in RENAMED.items():
            row[new] = row.get(old)
        row["branch"] = cell.method
        return CellResult(row, meta)


def discovery_set(model, task, pool, spec: "ExperimentSpec", ctx: RunContext):
    """M: ``discovery.n_examples`` label-balanced examples of ``pool`` that θ1 classifies correctly.

    When θ1 gets too few examples of some label right, the set shrinks to the largest balanced size
    available (at least 3 per label), else that label is left out, as
    :func:`circuitlab.tuning.discover_scores` does; returns ``(set, fallback)`` where ``fallback``
    says what was done (``None`` when nothing was). Fewer than 2 examples per label is an error.
    """
    from circuitlab.discovery import DiscoveryError, build_discovery_set

    disc, ev = spec.discovery, spec.evaluation
    kwargs = dict(seed=disc.seed, max_pool=disc.max_pool or None, require_correct=disc.require_correct,
                  batch_size=ev.batch_size, max_length=ev.max_length, progress=ctx.progress)
    try:
        return build_discovery_set(model, task, pool, disc.n_examples, **kwargs), None
    except DiscoveryError as exc:
        first = exc
    from circuitlab.evaluation import predict_logits

    cands = list(pool)  # the candidates build_discovery_set classified (same seeded shuffle and cut)
    if disc.max_pool:
        import random

        random.Random(disc.seed).shuffle(cands)
        cands = cands[: disc.max_pool]
    pred = predict_logits(model, task, cands, ev.batch_size, ev.max_length, progress=False).argmax(-1).tolist()
    correct = {lab: sum(task.labels[p] == e.label == lab for e, p in zip(cands, pred)) for lab in task.labels}
    labels = [lab for lab in task.labels if correct[lab] >= 3]
    n = min(disc.n_examples, len(labels) * min(correct[lab] for lab in labels)) if labels else 0
    if n < 2 * len(task.labels):
        raise first
    n -= n % len(labels)
    ctx.logger.warning("discovery: %s -> using n=%d over labels %s instead", first, n, labels)
    dset = build_discovery_set(model, task, pool, n, **{**kwargs, "labels": labels})
    return dset, {"requested_n": disc.n_examples, "n": n, "labels": labels, "correct": correct,
                  "reason": str(first)}


def growth_order(scores, growth) -> list:
    """Heads in the order CD-T's growth chose them (depth 0's by score first); ``[]`` without growth."""
    if growth is None:
        return []
    order = []
    for d in growth.depths:
        df = d.scores.table
        by_score = {(int(l), int(h)): s for l, h, s in zip(df["layer"], df["head"], df["score"])}
        order += sorted(d.chosen, key=lambda h: -by_score.get((h.layer, h.head), float("-inf")))
    return order


def circuit_from_order(order: list, k: int | float, scores, geometry) -> list[tuple[int, int]]:
    """The first ``k`` heads of the growth order, topped up by depth-0 rank when ``k`` exceeds the grown circuit."""
    from circuitlab.discovery import resolve_k

    n = resolve_k(k, geometry.n_layers * geometry.n_heads)
    heads = [tuple(h) for h in order][:n]
    if len(heads) < n:
        for l, h in scores.table.sort_values("rank")[["layer", "head"]].itertuples(index=False):
            if (int(l), int(h)) not in heads:
                heads.append((int(l), int(h)))
            if len(heads) == n:
                break
    return heads


__all__ = ["CTSFTBackend", "DEFAULT_SPLITS", "circuit_from_order", "experiment_config", "growth_order",
           "protocol_for", "proxy_config", "train_config"]
