"""How much the notebooks compute: one named budget, picked by an environment variable.

``CIRCUITLAB_NOTEBOOK_BUDGET``
    ``small`` (default): a smoke run that finishes in minutes on a laptop CPU, and
    what the test suite runs. Notebook 01 still uses the real default model
    (Gemma-3-270M) on a few examples; notebooks 02–05 run on tiny *random* models
    (``tiny-qwen2``, ``tiny-llama``), so their numbers mean nothing: they only show
    that every cell works. ``full``: Gemma-3-270M (and SmolLM2-135M in 05) at the
    paper's sizes: real results, hours on a CPU, use a GPU.

``CIRCUITLAB_NOTEBOOK_RUNS``
    Where tuning notebooks write their run folders (default: a fresh temporary
    folder per session). Set it to keep results and resume an interrupted run.

The budget only changes *how much* is computed and on which model, never *what*.
Data is found by :func:`circuitlab.data.find_data` (``$CIRCUITLAB_NUSAX_DIR``, or
``../shared/data`` beside the checkout), from any working directory.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from circuitlab.defaults import DEFAULT_MODEL
from circuitlab.errors import UserError


@dataclass(frozen=True)
class Budget:
    """How much each notebook computes.

    Attributes:
        name: ``small`` or ``full``.
        model: the model notebooks 02–05 study (01 always loads the package's default model).
        second_model: the model notebook 05 compares ``model`` with.
        scorer: the head scorer (``directional`` is CT-SFT's; see ``circuitlab.discovery.available_scorers()``).
        n_eval: test examples per language (``None``: the whole split, 400 for NusaX).
        n_val: validation examples per language for choosing learning rates (``None``: all 100).
        n_discovery: label-balanced examples in a discovery set.
        languages: the languages notebook 02 compares (the same NusaX sentences in each).
        targets: the target languages of the transfer notebooks (03 uses the first).
        k: the circuit size (heads).
        seeds: tuning seeds.
        shots: target examples per tuning run (03 runs each; 04 uses the last).
        n_proxy: proxy examples for the proxy-competence checkpoint θ1.
        epochs: training epochs (θ1 and target tuning).
        lr_grid: learning rates tried per run (``None``: each method's default grid, chosen on validation).
        n_cka: parallel sentences for the representation similarity.
        n_perm, n_boot: permutations of chance baselines, bootstrap resamples.
        n_stability: bootstrap resamples of the discovery set for circuit stability.
    """

    name: str
    model: str = DEFAULT_MODEL
    second_model: str = "smollm2-135m"
    scorer: str = "directional"
    n_eval: int | None = None
    n_val: int | None = None
    n_discovery: int = 50
    languages: tuple[str, ...] = ("indonesian", "javanese", "sundanese", "acehnese", "minangkabau", "balinese")
    targets: tuple[str, ...] = ("acehnese", "javanese", "minangkabau", "sundanese", "balinese", "banjarese",
                                "madurese")
    k: int = 6
    seeds: tuple[int, ...] = (31, 777, 2025, 12345)
    shots: tuple[int, ...] = (25, 100)
    n_proxy: int = 50
    epochs: int = 5
    lr_grid: tuple[float, ...] | None = None
    n_cka: int = 100
    n_perm: int = 1000
    n_boot: int = 2000
    n_stability: int = 50

    def to_dict(self) -> dict:
        return asdict(self)


BUDGETS = {
    "small": Budget(
        name="small", model="tiny-qwen2", second_model="tiny-llama", n_eval=32, n_val=24, n_discovery=6,
        languages=("indonesian", "javanese", "sundanese", "acehnese"), targets=("javanese", "acehnese", "sundanese"),
        k=2, seeds=(31, 777), shots=(12,), n_proxy=12, epochs=1, lr_grid=(2e-4,), n_cka=16, n_perm=200, n_boot=300,
        n_stability=4,
    ),
    "full": Budget(name="full"),
}


def notebook_budget(name: str | None = None) -> Budget:
    """The budget ``name``, else ``$CIRCUITLAB_NOTEBOOK_BUDGET``, else ``small``."""
    name = (name or os.environ.get("CIRCUITLAB_NOTEBOOK_BUDGET", "") or "small").strip().lower()
    if name not in BUDGETS:
        raise UserError(f"CIRCUITLAB_NOTEBOOK_BUDGET must be one of {sorted(BUDGETS)}, got {name!r}.")
    return BUDGETS[name]


def runs_dir(budget: Budget | None = None) -> Path:
    """Where notebooks write run folders: ``$CIRCUITLAB_NOTEBOOK_RUNS/<budget>``, else a fresh temporary folder."""
    budget = budget or notebook_budget()
    value = os.environ.get("CIRCUITLAB_NOTEBOOK_RUNS", "").strip()
    path = Path(value).expanduser().resolve() if value else Path(tempfile.mkdtemp(prefix="circuitlab-notebooks-"))
    path = path / budget.name
    path.mkdir(parents=True, exist_ok=True)
    return path


__all__ = ["BUDGETS", "Budget", "notebook_budget", "runs_dir"]
