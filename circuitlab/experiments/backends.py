"""The backend interface and registry: who does the work behind a plan's stages and cells.

A :class:`Backend` is looked up by name (:func:`register_backend`, :func:`get_backend`):
``"ctsft"`` runs the real pipeline through :mod:`circuitlab.tuning` and
:mod:`circuitlab.discovery`; ``"fake"`` is a tiny deterministic stand-in for testing the
sweep machinery (its rows say ``backend = "fake"``). A backend may also be given as
``"package.module:object"``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from circuitlab.errors import UserError
from circuitlab.results import CellResult

if TYPE_CHECKING:
    from circuitlab.experiments.cells import Cell, Stage
    from circuitlab.experiments.spec import ExperimentSpec



@dataclass(frozen=True)
class StageOutput:
    """A finished stage: its folder (artifacts) and the summary it returned (``stage.json``)."""

    stage: Stage
    path: Path
    summary: dict[str, Any]


@dataclass
class RunContext:
    """What a backend gets besides the stage or cell: the spec, where to write, and a per-process cache.

    Attributes:
        spec: the resolved experiment spec.
        work_dir: a private folder for this stage/cell's artifacts; the executor moves
            its content into the run folder once the stage/cell has finished
            (``stages/<id>/`` for a stage, ``artifacts/<cell id>/`` for a cell).
        progress: whether progress bars may be shown.
        logger: the run's logger (writes to the run folder's log file).
        cache: survives across cells in one process (e.g. the loaded base model); never
            shared between processes.
    """

    spec: "ExperimentSpec"
    work_dir: Path
    progress: bool = True
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("circuitlab.experiments"))
    cache: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """The work behind the cells. Register one with :func:`register_backend`.

    ``run_stage`` computes one shared stage into ``ctx.work_dir`` and returns a
    JSON-able summary (e.g. ``{"accuracy": 0.71}`` for a baseline). ``run_cell``
    computes one cell from the finished stages it needs (by role, see :class:`Plan`).
    Both must be deterministic given the spec, the stage/cell and its seed.
    """

    name: str

    def run_stage(self, stage: Stage, deps: dict[str, StageOutput], ctx: RunContext) -> dict[str, Any]: ...

    def run_cell(self, cell: Cell, stages: dict[str, StageOutput], ctx: RunContext) -> CellResult: ...


BackendFactory = Callable[..., Backend]
_BACKENDS: dict[str, BackendFactory | str] = {
    # Lazy entries: "module:object", imported on first use so that importing the
    # experiments package never pulls in torch-heavy tuning code.
    "ctsft": "circuitlab.experiments.ctsft:CTSFTBackend",
    "fake": "circuitlab.experiments.fake:FakeBackend",
}


def register_backend(name: str) -> Callable[[BackendFactory], BackendFactory]:
    """Decorator: make a backend factory (a class or function taking ``**options``) available by ``name``."""

    def deco(factory: BackendFactory) -> BackendFactory:
        _BACKENDS[name] = factory
        return factory

    return deco


def list_backends() -> list[str]:
    return sorted(_BACKENDS)


def _import_object(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    if not attr:
        raise UserError(f"Backend reference {ref!r} must look like 'package.module:object'.")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as exc:
        raise UserError(f"Cannot import backend module {module!r} ({exc}); check the spec's `backend` field.") from exc
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def get_backend(name: str, options: dict[str, Any] | None = None) -> Backend:
    """Instantiate the backend registered as ``name`` (or given as ``module:object``) with ``options``."""
    factory = _BACKENDS.get(name)
    if factory is None:
        if ":" not in name:
            raise UserError(f"Unknown backend {name!r}; registered: {', '.join(list_backends())}, or give "
                             "'package.module:object'.")
        factory = name
    if isinstance(factory, str):
        factory = _import_object(factory)
    backend = factory(**(options or {}))
    if not isinstance(backend, Backend):
        raise TypeError(f"Backend {name!r} does not implement run_stage/run_cell (got {type(backend).__name__}).")
    return backend


__all__ = ["Backend", "BackendFactory", "RunContext", "StageOutput", "get_backend", "list_backends",
           "register_backend"]
