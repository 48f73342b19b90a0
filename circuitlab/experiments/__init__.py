"""Experiments: specs, run folders, resumable sweeps (sequential or Ray), the HTML report and the demo.

The layer that ties data → model → discovery → tuning → evaluation → analysis/plots
into runs a researcher can launch, leave, resume and share::

    from circuitlab.experiments import load_spec, run_sweep, write_report

    spec = load_spec("examples/nusax_paper.toml")
    summary = run_sweep(spec, "runs/nusax")      # rerun the same call to resume
    write_report("runs/nusax")                    # report.html, self-contained

- :mod:`~circuitlab.experiments.spec`: the TOML/YAML spec, validated field by field.
- :mod:`~circuitlab.experiments.cells`: the grid, stable cell ids, shared stages, the backend registry.
- :mod:`~circuitlab.experiments.runfolder`: manifest, atomic files, results table, logs.
- :mod:`~circuitlab.experiments.sweep`: the sequential and Ray executors.
- :mod:`~circuitlab.experiments.report`: one offline ``report.html``.
- :mod:`~circuitlab.experiments.demo`: the demo spec (Gemma-3-270M, Indonesian → Javanese) and its budgets.
"""

from circuitlab.experiments.cells import (
    METHODS,
    Backend,
    Cell,
    CellResult,
    MethodInfo,
    Plan,
    RunContext,
    Stage,
    StageOutput,
    get_backend,
    grid,
    list_backends,
    plan,
    register_backend,
)
from circuitlab.experiments.runfolder import RunFolder, RunFolderError
from circuitlab.experiments.spec import ExperimentSpec, SpecError, load_spec, spec_from_dict
from circuitlab.experiments.sweep import SweepSummary, run_sweep


def write_report(run, **kwargs):
    """Build ``RUN/report.html`` (see :func:`circuitlab.experiments.report.write_report`)."""
    from circuitlab.experiments.report import write_report as _write

    return _write(run, **kwargs)


__all__ = [
    "METHODS", "Backend", "Cell", "CellResult", "ExperimentSpec", "MethodInfo", "Plan", "RunContext", "RunFolder",
    "RunFolderError", "SpecError", "Stage", "StageOutput", "SweepSummary", "get_backend", "grid", "list_backends",
    "load_spec", "plan", "register_backend", "run_sweep", "spec_from_dict", "write_report",
]
