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

The pieces, each re-exported here: shared stages (:mod:`~circuitlab.experiments.sweep_stages`),
the executor protocol and the sequential executor (:mod:`~circuitlab.experiments.sweep_executors`),
the Ray executor (:mod:`~circuitlab.experiments.sweep_ray`).
"""

from __future__ import annotations

import contextlib

import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from circuitlab.experiments.cells import (
    METHODS,
    Backend,
    Cell,
    CellResult,
    derive_cell,
    StageOutput,
    get_backend,
    grid_methods,
    plan,
)
from circuitlab.experiments.runfolder import RunFolder, RunFolderError, now, run_logging
from circuitlab.experiments.spec import ExperimentSpec
from circuitlab.experiments.sweep_executors import Executor, ExecutorError, SequentialExecutor
from circuitlab.experiments.sweep_ray import RayExecutor, pack_dir, unpack_dir  # pack_dir, unpack_dir: re-exported
from circuitlab.experiments.sweep_stages import ensure_stages, export_score_tables


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


def make_executor(spec: ExperimentSpec) -> Executor:
    rt = spec.runtime
    if rt.executor == "ray":
        return RayExecutor(rt.address, rt.num_cpus, rt.cpus_per_cell, rt.ship_stages)
    return SequentialExecutor()


# -- the sweep ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (``kill``, a job scheduler's time limit) ends a sweep like Ctrl-C: the session is closed
    with its end time and the results table is written (background jobs ignore SIGINT)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


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
    from circuitlab.experiments.preflight import preflight

    preflight(spec)  # k, heads, shots and data against the model and the files: before any folder or model
    run = RunFolder(out)
    if run.path.exists() and not run.path.is_dir():
        raise RunFolderError(f"{run.path} exists and is not a folder; choose another --out.")
    quiet = spec.runtime.quiet
    progress = not quiet
    if spec.runtime.threads > 0:
        import torch

        torch.set_num_threads(spec.runtime.threads)
    t_start = time.perf_counter()
    with run.lock(), _terminate_as_interrupt():
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


__all__ = ["Executor", "ExecutorError", "RayExecutor", "SequentialExecutor", "SweepSummary", "make_executor", "run_sweep"]
