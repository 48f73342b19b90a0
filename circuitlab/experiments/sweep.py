"""Run a spec's cells into a run folder: once each, resumable, sequentially or on Ray.

Context
-------
:func:`run_sweep` is the whole life of a sweep:

1. check the run folder (:meth:`RunFolder.prepare`): a new folder is created, a
   folder of the same spec is resumed, a folder of another spec is refused
   unless ``force`` (keep what still belongs to the new grid) or ``overwrite``;
2. plan the cells and shared stages (:func:`circuitlab.experiments.cells.plan`) and
   drop every cell already committed under ``cells/``;
3. compute the missing shared stages in the driver (proxy checkpoint, discovery
   scores, baselines), each committed atomically under ``stages/``;
4. run the remaining cells with an :class:`Executor`: ``sequential`` (in this
   process, the loaded model reused from cell to cell) or ``ray`` (one actor per
   free CPU slot on a local or remote Ray cluster; results and files come back
   to the driver, which alone writes the run folder);
5. commit each finished cell atomically (``cells/<id>.json``) the moment it
   finishes, then rebuild ``results.parquet``/``.csv`` and the report.

Every stage and cell start/finish/failure is appended to ``events.jsonl``; an
interrupted sweep (Ctrl-C, ``kill -9``, a lost node) is resumed by running the
same command again: committed cells are never recomputed.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import tarfile
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
from tqdm.auto import tqdm

from circuitlab.experiments.cells import (
    METHODS,
    Backend,
    Cell,
    CellResult,
    Plan,
    derive_cell,
    RunContext,
    Stage,
    StageOutput,
    get_backend,
    grid_methods,
    plan,
)
from circuitlab.experiments.runfolder import (
    RunFolder,
    RunFolderError,
    atomic_write_json,
    atomic_write_table,
    now,
    run_logging,
)
from circuitlab.experiments.spec import ExperimentSpec


@dataclass
class SweepSummary:
    """What a call to :func:`run_sweep` did.

    Attributes:
        run: the run folder.
        status: ``"completed"`` (every cell of the grid is committed) or ``"incomplete"``.
        prepared: ``"new"``, ``"resume"`` or ``"forced"`` (see :meth:`RunFolder.prepare`).
        n_cells / n_done: cells in the grid / committed after this call.
        n_run / n_failed: cells computed / failed in this call.
        failures: ``(cell id, error message)`` of this call's failures.
        seconds: wall time per phase (``proxy``, ``scores``, ``baseline``, ``cells``, ``report``).
        results: the results table (one row per committed cell of the grid).
    """

    run: RunFolder
    status: str
    prepared: str
    n_cells: int
    n_done: int
    n_run: int
    n_failed: int
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    results: pd.DataFrame = field(default_factory=pd.DataFrame)


class ExecutorError(ValueError):
    """The executor cannot run here (Ray missing, cluster unreachable); the message says what to do."""


# -- shared helpers -----------------------------------------------------------------------------


def _stage_output(run: RunFolder, stage: Stage) -> StageOutput:
    return StageOutput(stage, run.stage_path(stage.id), run.read_stage(stage.id)["summary"])


def _split_row(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Scalars stay in the row; lists, dicts and other objects move to the metadata."""
    scalars, other = {}, {}
    for k, v in row.items():
        if v is None or isinstance(v, (bool, int, float, str)):
            scalars[k] = v
        elif hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
            scalars[k] = v.item()
        else:
            other[k] = v
    return scalars, other


def finish_row(cell: Cell, result: CellResult, stages: dict[str, StageOutput]) -> tuple[dict, dict]:
    """The committed row: the cell's coordinates win, baselines fill ``*_before`` when the backend did not."""
    row, extra_meta = _split_row(dict(result.row))
    for key, value in cell.coords().items():
        row[key] = value
    if row.get("target_acc_before") is None and "before_target" in stages:
        row["target_acc_before"] = stages["before_target"].summary.get("accuracy")
    if row.get("proxy_acc_before") is None and "before_proxy" in stages:
        row["proxy_acc_before"] = stages["before_proxy"].summary.get("accuracy")
    if row.get("forgetting") is None and row.get("proxy_acc_after") is not None and row.get("proxy_acc_before") \
            is not None:
        row["forgetting"] = row["proxy_acc_before"] - row["proxy_acc_after"]
    return row, {**extra_meta, **result.meta}


def commit_cell(run: RunFolder, cell: Cell, row: dict, meta: dict, needs: dict[str, str], backend: str,
                wall_s: float, work: Path | None, host: str | None = None, pid: int | None = None) -> None:
    """Move the cell's files into ``artifacts/<id>/`` (if any), then write its JSON record atomically."""
    artifacts = None
    if work is not None and work.exists():
        if any(work.iterdir()):
            artifacts = str(run.commit_dir(work, run.artifacts_dir / cell.id).relative_to(run.path))
        else:
            shutil.rmtree(work, ignore_errors=True)
    record = {
        "cell": cell.to_dict(), "row": row, "meta": meta, "stages": needs, "backend": backend,
        "artifacts": artifacts, "wall_s": wall_s, "finished": now(), "host": host or socket.gethostname(),
        "pid": pid or os.getpid(),
    }
    run.write_cell(record)
    run.event("cell_done", cell=cell.id, wall_s=round(wall_s, 3), host=record["host"], worker_pid=record["pid"])


def ensure_stages(run: RunFolder, spec: ExperimentSpec, p: Plan, cells: list[Cell], backend: Backend,
                  log, progress: bool, cache: dict, seconds: dict[str, float]) -> dict[str, str]:
    """Compute the stages ``cells`` need that are not committed yet; returns ``{stage id: error}`` of failures."""
    failed: dict[str, str] = {}
    needed = p.stages_for(cells, extra=True)
    todo = [s for s in needed if not run.has_stage(s.id)]
    if needed:
        log.info("shared stages: %d needed, %d cached, %d to compute", len(needed), len(needed) - len(todo), len(todo))
    for stage in tqdm(todo, desc="shared stages", unit="stage", disable=not progress or not todo, leave=False):
        bad = [dep for _, dep in stage.deps if dep in failed]
        if bad:
            failed[stage.id] = f"depends on failed stage {bad[0]}"
            continue
        deps = {role: _stage_output(run, p.stages[sid]) for role, sid in stage.deps}
        work = run.new_work_dir(f"stage-{stage.kind}")
        ctx = RunContext(spec=spec, work_dir=work, progress=progress, logger=log, cache=cache)
        log.info("stage %s: start", stage.id)
        run.event("stage_start", stage=stage.id)
        t0 = time.perf_counter()
        try:
            summary = backend.run_stage(stage, deps, ctx)
        except Exception as exc:  # noqa: BLE001 - recorded and reported, the sweep decides whether to stop
            failed[stage.id] = f"{type(exc).__name__}: {exc}"
            log.error("stage %s failed: %s\n%s", stage.id, exc, traceback.format_exc())
            run.event("stage_failed", stage=stage.id, error=failed[stage.id])
            shutil.rmtree(work, ignore_errors=True)
            if spec.runtime.on_error == "stop":
                raise
            continue
        dt = time.perf_counter() - t0
        seconds[stage.kind] = seconds.get(stage.kind, 0.0) + dt
        atomic_write_json(work / "stage.json", {"stage": stage.to_dict(), "summary": summary or {},
                                                "seconds": dt, "finished": now(), "host": socket.gethostname()})
        run.commit_dir(work, run.stage_path(stage.id))
        run.event("stage_done", stage=stage.id, seconds=round(dt, 3))
        log.info("stage %s: done in %.1f s %s", stage.id, dt, _short(summary))
    return failed


def _short(summary: dict | None) -> str:
    if not summary:
        return ""
    items = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.items()
             if isinstance(v, (int, float, str)) and not isinstance(v, bool)]
    return "(" + ", ".join(items[:6]) + ")"


# -- executors ----------------------------------------------------------------------------------


class Executor(Protocol):
    """Runs cells whose stages are committed; calls ``on_done``/``on_fail`` in the driver as each ends."""

    name: str

    def run(self, run: RunFolder, spec: ExperimentSpec, p: Plan, cells: list[Cell], backend: Backend,
            on_start: Callable[[Cell], None], on_done: Callable[..., None],
            on_fail: Callable[[Cell, str], None], log, progress: bool, cache: dict) -> None: ...


class SequentialExecutor:
    """Cells one after another in this process (the backend's cache keeps the model loaded)."""

    name = "sequential"

    def run(self, run, spec, p, cells, backend, on_start, on_done, on_fail, log, progress, cache) -> None:
        for cell in cells:
            stages = {role: _stage_output(run, p.stages[sid]) for role, sid in p.needs[cell.id].items()}
            work = run.new_work_dir("cell")
            ctx = RunContext(spec=spec, work_dir=work, progress=progress, logger=log, cache=cache)
            on_start(cell)
            t0 = time.perf_counter()
            try:
                result = backend.run_cell(cell, stages, ctx)
            except Exception as exc:  # noqa: BLE001
                shutil.rmtree(work, ignore_errors=True)
                on_fail(cell, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                if spec.runtime.on_error == "stop":
                    raise
                continue
            on_done(cell, result, stages, time.perf_counter() - t0, work, None, None)


# Ray: file bundles travel through the object store as tar bytes.


def pack_dir(path: Path) -> bytes:
    """A folder as uncompressed tar bytes (for the Ray object store)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for child in sorted(path.iterdir()) if path.exists() else []:
            tar.add(child, arcname=child.name)
    return buf.getvalue()


def unpack_dir(data: bytes, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(dest, filter="data")
    return dest


class _CellWorker:
    """A Ray actor: holds one backend (and its cache: the loaded model) for many cells."""

    def __init__(self, spec_dict: dict, threads: int) -> None:
        from circuitlab.allocator import reuse_freed_memory
        from circuitlab.experiments.spec import spec_from_dict

        reuse_freed_memory()  # as the `circuitlab` command does in its own process
        if threads > 0:
            with contextlib.suppress(Exception):
                import torch

                torch.set_num_threads(threads)
        self.spec = spec_from_dict(spec_dict)
        self.backend = get_backend(self.spec.backend, self.spec.backend_options)
        self.cache: dict = {}
        self.local_stages: dict[str, Path] = {}
        self.tmp = Path(tempfile.mkdtemp(prefix="circuitlab-ray-"))

    def run(self, cell_dict: dict, stages: dict[str, tuple[dict, str, dict]], bundles: dict[str, Any]) -> dict:
        import logging

        import ray

        cell = Cell.from_dict(cell_dict)
        outs = {}
        for role, (stage_dict, path, summary) in stages.items():
            stage = Stage.from_dict(stage_dict)
            local = Path(path)
            if stage.id in bundles:  # the run folder is not visible here: use the shipped copy
                if stage.id not in self.local_stages:
                    data = ray.get(bundles[stage.id])
                    self.local_stages[stage.id] = unpack_dir(data, self.tmp / "stages" / stage.id)
                local = self.local_stages[stage.id]
            outs[role] = StageOutput(stage, local, summary)
        work = Path(tempfile.mkdtemp(dir=self.tmp, prefix="cell-"))
        ctx = RunContext(spec=self.spec, work_dir=work, progress=False,
                         logger=logging.getLogger("circuitlab.experiments.worker"), cache=self.cache)
        t0 = time.perf_counter()
        result = self.backend.run_cell(cell, outs, ctx)
        wall = time.perf_counter() - t0
        files = pack_dir(work) if any(work.iterdir()) else b""
        shutil.rmtree(work, ignore_errors=True)
        return {"row": result.row, "meta": result.meta, "files": files, "wall_s": wall,
                "host": socket.gethostname(), "pid": os.getpid()}


class RayExecutor:
    """Cells as tasks on Ray actors: a local instance, or the cluster at ``address``.

    The driver keeps the run folder: workers get the stage folders by path (same
    machine or a shared file system) or, with ``ship_stages``, as bundles through the
    object store, and send rows and files back. ``circuitlab`` must be importable on
    every node (install the same version there).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int = 0, cpus_per_cell: int = 1,
                 ship_stages: str = "auto") -> None:
        self.address, self.num_cpus, self.cpus_per_cell = address, num_cpus, cpus_per_cell
        self.ship = ship_stages == "always" or (ship_stages == "auto" and bool(address))

    def run(self, run, spec, p, cells, backend, on_start, on_done, on_fail, log, progress, cache) -> None:
        try:
            import ray
        except ImportError as exc:
            raise ExecutorError("--executor ray needs Ray: pip install 'circuitlab[ray]' (or pip install ray), or "
                                "use --executor sequential.") from exc
        started_here = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": progress}
            if self.address:
                kwargs["address"] = self.address
            elif self.num_cpus:
                kwargs["num_cpus"] = self.num_cpus
            log.info("ray: connecting to %s", self.address or "a new local instance")
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorError(
                    f"Cannot start or reach Ray ({self.address or 'local instance'}): {exc}. Check --address ('auto' "
                    "on a node of a running cluster, 'ray://HEAD:10001' from outside it), or run without --address "
                    "for a local instance."
                ) from exc
            started_here = True
        try:
            self._run(ray, run, spec, p, cells, on_start, on_done, on_fail, log)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray, run, spec, p, cells, on_start, on_done, on_fail, log) -> None:
        from ray.exceptions import RayActorError

        cpus = int(ray.cluster_resources().get("CPU", 1))
        n_workers = max(1, min(len(cells), cpus // self.cpus_per_cell))
        log.info("ray: %d CPU(s) in the cluster, %d worker(s) x %d CPU", cpus, n_workers, self.cpus_per_cell)
        Worker = ray.remote(num_cpus=self.cpus_per_cell, max_restarts=1)(_CellWorker)
        spec_dict = spec.to_dict()
        make = lambda: Worker.remote(spec_dict, self.cpus_per_cell)  # noqa: E731
        idle = [make() for _ in range(n_workers)]
        bundles: dict[str, Any] = {}
        if self.ship:
            for s in p.stages_for(cells):
                bundles[s.id] = ray.put(pack_dir(run.stage_path(s.id)))
        queue = list(cells)
        running: dict[Any, tuple[Cell, Any]] = {}
        while queue or running:
            while queue and idle:
                cell = queue.pop(0)
                actor = idle.pop()
                needs = p.needs[cell.id]
                stages = {role: (p.stages[sid].to_dict(), str(run.stage_path(sid)), run.read_stage(sid)["summary"])
                          for role, sid in needs.items()}
                my_bundles = {sid: bundles[sid] for sid in needs.values() if sid in bundles}
                on_start(cell)
                running[actor.run.remote(cell.to_dict(), stages, my_bundles)] = (cell, actor)
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                cell, actor = running.pop(ref)
                try:
                    out = ray.get(ref)
                except RayActorError as exc:  # the worker process or its node died
                    on_fail(cell, f"Ray worker died: {exc}")
                    idle.append(make())
                    if spec.runtime.on_error == "stop":
                        raise
                    continue
                except Exception as exc:  # noqa: BLE001 - the cell raised inside the worker
                    idle.append(actor)
                    on_fail(cell, f"{type(exc).__name__}: {exc}")
                    if spec.runtime.on_error == "stop":
                        raise
                    continue
                idle.append(actor)
                stages = {role: _stage_output(run, p.stages[sid]) for role, sid in p.needs[cell.id].items()}
                work = run.new_work_dir("cell")
                if out["files"]:
                    unpack_dir(out["files"], work)
                on_done(cell, CellResult(out["row"], out["meta"]), stages, out["wall_s"], work, out["host"], out["pid"])


def make_executor(spec: ExperimentSpec) -> Executor:
    rt = spec.runtime
    if rt.executor == "ray":
        return RayExecutor(rt.address, rt.num_cpus, rt.cpus_per_cell, rt.ship_stages)
    return SequentialExecutor()


# -- the sweep ----------------------------------------------------------------------------------


def run_sweep(spec: ExperimentSpec, out: str | Path, *, force: bool = False, overwrite: bool = False,
              spec_source: str | None = None, report: bool = True, backend: Backend | None = None) -> SweepSummary:
    """Run (or resume) ``spec`` into the run folder ``out``; see the module docstring.

    Args:
        spec: the validated spec (``runtime`` decides executor, quietness, error policy).
        out: the run folder.
        force: accept a folder made by a different spec (keep the cells still in the grid).
        overwrite: empty a folder made by a different (or the same) spec first.
        spec_source: where the spec came from (recorded in the manifest).
        report: rebuild ``report.html`` at the end.
        backend: an already-built backend (default: from ``spec.backend``/``backend_options``).
    """
    run = RunFolder(out)
    if run.path.exists() and not run.path.is_dir():
        raise RunFolderError(f"{run.path} exists and is not a folder; choose another --out.")
    quiet = spec.runtime.quiet
    progress = not quiet
    if spec.runtime.threads > 0:
        import torch

        torch.set_num_threads(spec.runtime.threads)
    t_start = time.perf_counter()
    with run.lock():
        prepared = run.prepare(spec, force=force, overwrite=overwrite, spec_source=spec_source)
        with run_logging(run, quiet=quiet) as log:
            p = plan(spec)
            committed = run.read_cells()
            done = {c.id for c in p.cells if c.id in committed}
            todo = [c for c in p.compute_cells if c.id not in done]
            pending_derived = [c for c in p.cells if c.id in p.derived and c.id not in done]
            log.info("run %s (%s): %d cells, %d already done, %d to run; executor %s", run.path, prepared,
                     len(p.cells), len(done), len(todo) + len(pending_derived), spec.runtime.executor)
            added = [m for m in grid_methods(spec) if m not in spec.grid.methods]
            if added:
                log.info("methods %s are added to the grid: %s choose between them",
                         ", ".join(added), ", ".join(m for m in spec.grid.methods if METHODS[m].derived_from))
            backend = backend or get_backend(spec.backend, spec.backend_options)
            executor = make_executor(spec)
            session = run.start_session(executor.name, len(p.cells), len(done))
            run.event("sweep_start", session=session, todo=len(todo), done=len(done), executor=executor.name)
            run.clean_work()
            seconds: dict[str, float] = {}
            failures: list[tuple[str, str]] = []
            n_run = 0
            cache: dict = {}
            status = "interrupted"
            bar = tqdm(total=len(p.cells), initial=len(done), desc="cells", unit="cell", disable=not progress,
                       dynamic_ncols=True)
            try:
                failed_stages = ensure_stages(run, spec, p, todo, backend, log, progress, cache, seconds)
                if failed_stages:
                    blocked = [c for c in todo if set(p.needs[c.id].values()) & set(failed_stages)]
                    for c in blocked:
                        sid = next(s for s in p.needs[c.id].values() if s in failed_stages)
                        failures.append((c.id, f"stage {sid} failed: {failed_stages[sid]}"))
                        run.event("cell_failed", cell=c.id, error=failures[-1][1])
                    todo = [c for c in todo if c not in blocked]

                def on_start(cell: Cell) -> None:
                    run.event("cell_start", cell=cell.id)
                    bar.set_postfix_str(cell.label, refresh=True)
                    log.debug("cell %s: start", cell.label)

                def derive_ready() -> None:
                    """Commit every derived cell whose source cells are all committed (no computation)."""
                    nonlocal n_run
                    for cell in list(pending_derived):
                        srcs = p.derived[cell.id]
                        recs = {m: run.read_cell(cid) for m, cid in srcs.items()}
                        if any(r is None for r in recs.values()):
                            continue
                        rows = {m: {**r["row"], "cell_id": srcs[m]} for m, r in recs.items()}
                        result = derive_cell(cell, rows)
                        commit_cell(run, cell, result.row, result.meta, {}, "derived", 0.0, None)
                        pending_derived.remove(cell)
                        n_run += 1
                        bar.update(1)
                        log.info("cell %s: chose %s on validation", cell.label, result.row.get("branch"))

                def on_done(cell, result, stages, wall, work, host, pid) -> None:
                    nonlocal n_run
                    row, meta = finish_row(cell, result, stages)
                    commit_cell(run, cell, row, meta, p.needs[cell.id], spec.backend, wall, work, host, pid)
                    n_run += 1
                    seconds["cells"] = seconds.get("cells", 0.0) + wall
                    bar.update(1)
                    acc = row.get("target_acc")
                    log.info("cell %s: done in %.1f s (target_acc=%s, forgetting=%s)", cell.label, wall,
                             f"{acc:.3f}" if isinstance(acc, float) else acc, _fmt(row.get("forgetting")))
                    derive_ready()

                def on_fail(cell: Cell, error: str) -> None:
                    failures.append((cell.id, error.splitlines()[0] if error else "error"))
                    run.event("cell_failed", cell=cell.id, error=error.splitlines()[0] if error else "")
                    log.error("cell %s failed: %s", cell.label, error)

                derive_ready()
                if todo:
                    executor.run(run, spec, p, todo, backend, on_start, on_done, on_fail, log, progress, cache)
                status = "completed" if not failures else "failed"
            except KeyboardInterrupt:
                status = "interrupted"
                log.warning("interrupted; run the same command again to resume (finished cells are kept)")
                raise
            except Exception:
                status = "failed"
                raise
            finally:
                bar.close()
                results = run.results([c.id for c in p.cells])
                run.write_results(results)
                export_score_tables(run, p)
                n_done = len(results)
                run.end_session(session, status, n_run, len(failures), n_done, len(p.cells), seconds)
                run.event("sweep_end", session=session, status=status, run=n_run, failed=len(failures))
            if report:
                t0 = time.perf_counter()
                from circuitlab.experiments.report import write_report

                write_report(run, progress=progress)
                seconds["report"] = time.perf_counter() - t0
            seconds["total"] = time.perf_counter() - t_start
            log.info("%d/%d cells done (%d this session, %d failed); results: %s", n_done, len(p.cells), n_run,
                     len(failures), run.results_path)
    return SweepSummary(run=run, status="completed" if n_done == len(p.cells) else "incomplete", prepared=prepared,
                        n_cells=len(p.cells), n_done=n_done, n_run=n_run, n_failed=len(failures), failures=failures,
                        seconds=seconds, results=results)


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def export_score_tables(run: RunFolder, p: Plan) -> list[Path]:
    """Copy every committed discovery stage's head scores to ``scores/<proxy>-<scorer>.{parquet,csv}``."""
    written = []
    for s in p.stages.values():
        if s.kind != "scores" or not run.has_stage(s.id):
            continue
        rel = run.read_stage(s.id)["summary"].get("scores")
        src = run.stage_path(s.id) / rel if rel else None
        if src is None or not src.exists():
            continue
        run.scores_dir.mkdir(exist_ok=True)
        df = pd.read_parquet(src) if src.suffix == ".parquet" else pd.read_csv(src)
        lang = f"-on-{s.language}" if s.language else ""
        stem = f"{s.proxy}{lang}-{s.key['discovery']['scorer']}"
        written.append(atomic_write_table(df, run.scores_dir / f"{stem}.parquet"))
        atomic_write_table(df, run.scores_dir / f"{stem}.csv")
    return written


__all__ = ["Executor", "ExecutorError", "RayExecutor", "SequentialExecutor", "SweepSummary", "make_executor", "run_sweep"]
