"""Executors run the cells whose stages are committed; the sequential one runs them in this process.

An executor only computes: it calls ``on_done``/``on_fail`` in the driver as each
cell ends, and the driver alone writes the run folder. The Ray executor is
:mod:`circuitlab.experiments.sweep_ray`.
"""

from __future__ import annotations

import shutil
import time
import traceback
from collections.abc import Callable
from typing import Protocol

from circuitlab.errors import UserError
from circuitlab.experiments.cells import Backend, Cell, Plan, RunContext
from circuitlab.experiments.runfolder import RunFolder
from circuitlab.experiments.spec import ExperimentSpec
from circuitlab.experiments.sweep_stages import stage_output


class ExecutorError(UserError):
    """The executor cannot run here (Ray missing, cluster unreachable); the message says what to do."""


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
            stages = {role: stage_output(run, p.stages[sid]) for role, sid in p.needs[cell.id].items()}
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


__all__ = ["Executor", "ExecutorError", "SequentialExecutor"]
