"""The Ray executor: cells as tasks on Ray actors, on a local instance or a cluster.

Each actor holds one backend (and its cache: the loaded model) for many cells.
Stage folders reach the workers by path or, shipped, as tar bytes through the
object store; rows and cell files come back the same way to the driver.
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
from pathlib import Path
from typing import Any

from circuitlab.experiments.cells import Cell, CellResult, RunContext, Stage, StageOutput, get_backend
from circuitlab.experiments.sweep_executors import ExecutorError
from circuitlab.experiments.sweep_stages import stage_output


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
        self.spec = spec_from_dict(spec_dict, check_files=False)  # workers may not see the driver's files
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
                stages = {role: stage_output(run, p.stages[sid]) for role, sid in p.needs[cell.id].items()}
                work = run.new_work_dir("cell")
                if out["files"]:
                    unpack_dir(out["files"], work)
                on_done(cell, CellResult(out["row"], out["meta"]), stages, out["wall_s"], work, out["host"], out["pid"])


__all__ = ["RayExecutor", "pack_dir", "unpack_dir"]
