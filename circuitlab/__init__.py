"""circuitlab: find the heads that carry a task, then adapt to a new language by tuning only those.

The entry points a notebook needs, one import away (``import circuitlab as cl``)::

    model = cl.load_model("gemma-3-270m")
    task = cl.make_task("nusax", model.tokenizer)
    examples = cl.load_examples("nusax", "indonesian", "test", cl.find_data("nusax"))
    cl.evaluate(model, task, examples).accuracy
    scores = cl.score_heads(model, task, examples[:50])            # the directional scorer
    cl.plots.head_heatmap(scores)

    spec = cl.spec_from_dict({"data": {"targets": ["javanese"]}, "grid": {"methods": ["circuit", "full"]}})
    summary = cl.run(spec, "runs/jav")                             # the sweep engine: CLI `tune` and `sweep` too
    summary.results                                                # one row per cell

Names are imported on first use, so ``import circuitlab`` stays fast (no torch
until a model is needed). Submodules (``cl.plots``, ``cl.analysis``,
``cl.discovery``, ``cl.tuning``, ``cl.experiments``) hold everything else.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: name -> "module:attribute" (or "module" for a submodule), imported on first access.
_LAZY = {
    "load_model": "circuitlab.models:load_model",
    "make_task": "circuitlab.tasks:make_task",
    "load_examples": "circuitlab.data:load_examples",
    "find_data": "circuitlab.data:find_data",
    "evaluate": "circuitlab.evaluation:evaluate",
    "get_scorer": "circuitlab.discovery:get_scorer",
    "HeadScores": "circuitlab.discovery:HeadScores",
    "select_heads": "circuitlab.discovery:select_heads",
    "tune_cell": "circuitlab.tuning:tune_cell",
    "ExperimentSpec": "circuitlab.experiments:ExperimentSpec",
    "load_spec": "circuitlab.experiments:load_spec",
    "spec_from_dict": "circuitlab.experiments:spec_from_dict",
    "run_sweep": "circuitlab.experiments:run_sweep",
    "RunFolder": "circuitlab.experiments:RunFolder",
    "notebook_budget": "circuitlab.budgets:notebook_budget",
    "runs_dir": "circuitlab.budgets:runs_dir",
    "UserError": "circuitlab.errors:UserError",
    "reuse_freed_memory": "circuitlab.allocator:reuse_freed_memory",
    "METHODS": "circuitlab.methods:METHODS",
    "plots": "circuitlab.plots",
    "analysis": "circuitlab.analysis",
    "discovery": "circuitlab.discovery",
    "tuning": "circuitlab.tuning",
    "experiments": "circuitlab.experiments",
}

if TYPE_CHECKING:  # pragma: no cover - for editors and type checkers
    from circuitlab.data import find_data, load_examples
    from circuitlab.discovery import HeadScores, get_scorer, select_heads
    from circuitlab.evaluation import evaluate
    from circuitlab.experiments import ExperimentSpec, RunFolder, load_spec, run_sweep, spec_from_dict
    from circuitlab.models import load_model
    from circuitlab.tasks import make_task
    from circuitlab.tuning import tune_cell


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'circuitlab' has no attribute {name!r}")
    module, _, attr = target.partition(":")
    value = importlib.import_module(module)
    value = getattr(value, attr) if attr else value
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def score_heads(model, task, examples, scorer: str = "directional", *, seed: int = 0, **options: Any):
    """Score every head of ``model`` on ``examples`` with a registered scorer (CT-SFT's: ``directional``).

    The label-balanced mean the scorer patches in is computed on the same examples, as discovery does.
    Returns a :class:`~circuitlab.discovery.HeadScores` (a layer × head table with ranks).
    """
    from circuitlab.discovery import get_scorer, label_balanced_mean

    s = get_scorer(scorer, **options)
    mean = label_balanced_mean(model, task, list(examples), pooling=s.config.pooling,
                               max_length=s.config.max_length)
    return s.score(model, task, list(examples), mean=mean, seed=seed)


def run(spec: "ExperimentSpec | dict | str | Path", out: str | Path, **kwargs: Any):
    """Run (or resume) an experiment into the run folder ``out``: the one engine behind ``tune`` and ``sweep``.

    ``spec`` is an :class:`ExperimentSpec`, a dict of its sections, or a spec file (``.toml``/``.yaml``/
    ``.json``). :func:`~circuitlab.experiments.run_sweep` checks it against the model and the data
    before anything is loaded (:func:`circuitlab.experiments.preflight.preflight`). ``kwargs`` go to
    :func:`circuitlab.experiments.run_sweep` (``force``, ``overwrite``, ``report``).
    Returns the :class:`~circuitlab.experiments.SweepSummary` (``.results`` is the table).
    """
    from circuitlab.experiments import ExperimentSpec, load_spec, run_sweep, spec_from_dict

    if isinstance(spec, (str, Path)):
        spec = load_spec(spec)
    elif not isinstance(spec, ExperimentSpec):
        spec = spec_from_dict(spec)
    return run_sweep(spec, out, **kwargs)


sweep = run

__all__ = sorted([*_LAZY, "__version__", "run", "score_heads", "sweep"])
