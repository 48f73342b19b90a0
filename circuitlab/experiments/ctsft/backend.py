"""The ``ctsft`` backend: the real CT-SFT pipeline behind the sweep's stages and cells.

The sweep decides *what* runs and *where it is stored*; this backend maps each
stage and cell onto :mod:`circuitlab.tuning` and :mod:`circuitlab.discovery`:

==============  =====================================================================================
stage / cell    work
==============  =====================================================================================
``proxy``       :func:`circuitlab.tuning.ensure_proxy`: full fine-tuning on ``n_src`` proxy examples of
                pool A; θ1 is written as a Hugging Face folder *inside the stage folder* of the run
``scores``      :func:`~circuitlab.discovery.build_discovery_set` on pool A (of the proxy, or of a target
                for the report's overlap), :func:`~circuitlab.discovery.label_balanced_mean`, then the
                scorer at depth 0, or :func:`~circuitlab.discovery.grow_circuit` for ``depth > 0``; or
                the table of ``discovery.scores_file``
``baseline``    :func:`~circuitlab.evaluation.evaluate` of θ1 (or the base model) on a test split
cell            :func:`circuitlab.tuning.tune_cell`: learning rate chosen on target validation, target
                and proxy test accuracy; forgetting against the ``before_proxy`` baseline; the delta
==============  =====================================================================================

Every stage and cell runs under the spec's ``model.matmul_precision``. The model
is loaded once per process and kept in the run context's cache with an exact
snapshot of its start weights, which every cell restores: a sequential sweep pays
the load once, a Ray worker once per worker.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from circuitlab.experiments.cells import Cell, CellResult, RunContext, Stage, StageOutput
from circuitlab.experiments.ctsft.config import cell_config, protocol_for, proxy_config
from circuitlab.experiments.ctsft.discovery import circuit_from_order, discovery_set, growth_order


def weights_sha256(folder: Path) -> str:
    """sha256 of a checkpoint's weight files (``*.safetensors``, in name order): the same θ1, bit for bit.

    A run folder committed without its checkpoint recomputes θ1 on resume; this says whether it came out the
    same as the one the committed cells started from.
    """
    h = hashlib.sha256()
    for f in sorted(Path(folder).glob("*.safetensors")):
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 24), b""):
                h.update(block)
    return h.hexdigest()

if TYPE_CHECKING:
    from circuitlab.experiments.spec import ExperimentSpec


class CTSFTBackend:
    """Stages and cells of the real pipeline (see the module docstring)."""

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

    def _start(self, key: tuple, path: str, ctx: RunContext):
        """The model at ``path`` with exactly its weights (restored from the cached snapshot), and the snapshot.

        At most one θ1 and the base model are kept per process: a sweep with several proxies swaps θ1.
        """
        from circuitlab.tuning import ModelSnapshot

        entry = ctx.cache.get(("start", key))
        if entry is None:
            for old in [k for k in ctx.cache if isinstance(k, tuple) and k[0] == "start" and k[1][0] == key[0]]:
                del ctx.cache[old]
            model = self._load(ctx.spec, path)
            entry = (model, ModelSnapshot.take(model))
            ctx.cache[("start", key)] = entry
        model, snapshot = entry
        snapshot.restore(model)
        return model, snapshot

    def _theta1(self, proxy: StageOutput, ctx: RunContext):
        return self._start(("theta1", proxy.stage.id), str(proxy.path / proxy.summary["checkpoint"]), ctx)

    def _base(self, ctx: RunContext):
        return self._start(("base",), ctx.spec.model.name, ctx)

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
        return {"checkpoint": str(cp.path.relative_to(ctx.work_dir)), "key": cp.key, **cp.metrics,
                "weights_sha256": weights_sha256(cp.path)}

    def _scores_stage(self, stage: Stage, deps: dict[str, StageOutput], ctx: RunContext) -> dict[str, Any]:
        from circuitlab.discovery import get_scorer, grow_circuit, label_balanced_mean

        spec, disc = ctx.spec, ctx.spec.discovery
        language = stage.language or stage.proxy or ""
        if disc.scores_file and not stage.language:
            return self._given_scores(ctx, language)
        model, _ = self._theta1(deps["proxy"], ctx)
        task = self._task(spec, model)
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

    @staticmethod
    def _given_scores(ctx: RunContext, language: str) -> dict[str, Any]:
        """``discovery.scores_file``: the user's table, copied into the stage (no discovery is run)."""
        from circuitlab.discovery import HeadScores

        scores = HeadScores.load(ctx.spec.discovery.scores_file)
        scores.meta.setdefault("source", str(ctx.spec.discovery.scores_file))
        scores.save(ctx.work_dir / "scores.parquet")
        return {"scores": "scores.parquet", "language": language, "n_examples": scores.meta.get("n_examples"),
                "given": str(ctx.spec.discovery.scores_file), "depth": 0, "growth_order": None, "seconds": 0.0}

    def _baseline_stage(self, stage: Stage, deps: dict[str, StageOutput], ctx: RunContext) -> dict[str, Any]:
        from circuitlab.evaluation import evaluate

        spec = ctx.spec
        model, _ = self._theta1(deps["proxy"], ctx) if "proxy" in deps else self._base(ctx)
        task = self._task(spec, model)
        examples = protocol_for(spec).test(stage.language or "")
        r = evaluate(model, task, examples, batch_size=spec.evaluation.batch_size,
                     max_length=spec.evaluation.max_length, progress=ctx.progress)
        return {"accuracy": r.accuracy, "macro_f1": r.macro_f1, "n": r.n, "pred_counts": r.pred_counts,
                "model": "theta1" if "proxy" in deps else "base", "correct": r.correct}

    # -- cells ----------------------------------------------------------------------------------

    def run_cell(self, cell: Cell, stages: dict[str, StageOutput], ctx: RunContext) -> CellResult:
        from circuitlab.models import matmul_precision

        with matmul_precision(ctx.spec.model.matmul_precision):
            result = self._run_cell(cell, stages, ctx)
        result.row["matmul_precision"] = ctx.spec.model.matmul_precision
        return result

    @staticmethod
    def _heads(spec: "ExperimentSpec", cell: Cell, stages: dict[str, StageOutput], geometry):
        """The heads a head method trains: the spec's explicit heads, CD-T's growth order, or the selection."""
        from circuitlab.discovery import HeadScores
        from circuitlab.heads import Head, HeadSet
        from circuitlab.tuning import choose_heads

        if not cell.info.uses_heads:
            return None
        if spec.tuning.heads:
            return HeadSet.of(Head.parse(h) for h in spec.tuning.heads).validate(geometry)
        scores = None
        if "scores" in stages:
            s = stages["scores"]
            scores = HeadScores.load(s.path / s.summary["scores"])
            order = s.summary.get("growth_order")
            if cell.method == "circuit" and order and cell.k is not None:
                # depth > 0: the circuit is CD-T's growth order (depth 0's heads first), cut at k
                return HeadSet.of(circuit_from_order(order, cell.k, scores, geometry))
        return choose_heads(cell.info, geometry, cell.k, scores, seed=cell.seed)

    def _run_cell(self, cell: Cell, stages: dict[str, StageOutput], ctx: RunContext) -> CellResult:
        from circuitlab.tuning import CellExamples, save_delta, tune_cell
        from circuitlab.tuning.versions import versions

        spec = ctx.spec
        model, snapshot = self._theta1(stages["proxy"], ctx) if cell.info.from_proxy else self._base(ctx)
        heads = self._heads(spec, cell, stages, model.geometry)
        data = protocol_for(spec)
        examples = CellExamples(self._task(spec, model), data.target_train(cell.target, cell.shots, cell.seed),
                                data.validation(cell.target), data.test(cell.target), data.test(cell.proxy))
        config = cell_config(spec, cell)
        result = tune_cell(model, heads, examples, config, snapshot=snapshot, progress=ctx.progress,
                           log=ctx.logger.info)
        bt, bp = stages["before_target"].summary, stages["before_proxy"].summary
        row = {"backend": self.name, "model": spec.model.name, "dataset": spec.data.dataset,
               "start": cell.info.start, **result.row, "target_acc_before": bt["accuracy"],
               "target_f1_before": bt["macro_f1"], "proxy_acc_before": bp["accuracy"], "branch": cell.method,
               "proxy_key": stages["proxy"].summary["key"] if "proxy" in stages else None,
               "start_sha256": stages["proxy"].summary.get("weights_sha256") if "proxy" in stages else None}
        if row.get("proxy_acc_after") is not None:
            row["forgetting"] = bp["accuracy"] - row["proxy_acc_after"]
        meta = {**result.meta, "versions": versions(), "delta": None}
        if result.delta is not None and row["status"] == "ok":
            result.delta.manifest.update(
                base={"model": spec.model.name, "start": cell.info.start, "proxy_key": row["proxy_key"]},
                method=cell.method, target=cell.target, seed=cell.seed,
                heads=heads.to_list() if heads is not None else None, kv_rule=config.kv_rule, lr=row["lr"],
                metrics={k: row.get(k) for k in ("val_acc", "target_acc", "target_f1", "proxy_acc_before",
                                                 "proxy_acc_after", "forgetting")},
                train_config=config.train.to_dict() | {"lr": row["lr"], "seed": cell.seed}, versions=meta["versions"],
            )
            save_delta(result.delta, ctx.work_dir / "delta")
            meta["delta"] = "delta"
        return CellResult(row, meta)


__all__ = ["CTSFTBackend"]
