"""The demo: the main job on the embedded default model, with a CPU budget and the paper's budget.

Context
-------
``circuitlab demo`` is the README's main command. It runs the whole CT-SFT
pipeline on Gemma-3-270M (embedded, offline) with NusaX-Senti:

1. proxy competence tuning on Indonesian (θ1);
2. discovery of the task circuit on θ1 (directional relevance) and the A0 baselines;
3. circuit, nearzero and full fine-tuning on the target (Javanese by default);
4. target and proxy accuracy before and after; the results table and report.html.

Two budgets:

- :data:`DEMO_BUDGET` (default): meant to finish within 15 minutes on an idle 2-core
  CPU by using fewer epochs, discovery examples and test examples than the paper
  (``bench/bench_demo.py`` measures it); every report made with it says so in a
  banner ("DEMO BUDGET").
- :data:`PAPER_BUDGET` (``--full``): the paper's settings (n_src 50, 5 epochs, batch
  16, discovery on 50 examples, growth to depth 2, n ∈ {25, 50, 75, 100}, four seeds,
  the full 400-example test sets, every method), with each run's learning rate chosen
  on validation. Days on a CPU; meant for a GPU.

The same spec is in ``examples/demo.toml`` (a test keeps them identical).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from circuitlab.experiments.spec import ExperimentSpec, spec_from_dict

#: The demo budget: fits in 15 minutes on a 2-core CPU (see bench/bench_demo.py for the measured time).
DEMO_BUDGET: dict[str, Any] = {
    "name": "demo",
    "budget": "demo",
    "description": (
        "CT-SFT demo on Gemma-3-270M: proxy competence tuning on Indonesian, discovery of the sentiment circuit, "
        "then circuit / nearzero / full fine-tuning on the target. DEMO BUDGET: 2 proxy epochs and 3 target epochs "
        "(paper: 5), 12 discovery examples (paper: 50), 150 test examples per language (paper: 400), one seed; full "
        "fine-tuning at lr 1e-5 (5e-5, right for a few heads, wrecks full fine-tuning; the paper budget chooses "
        "the rate on validation). Numbers are indicative only; `circuitlab demo --full` runs the paper's settings."
    ),
    "backend": "ctsft",
    "model": {"name": "gemma-3-270m"},
    "data": {"dataset": "nusax", "proxy": ["indonesian"], "targets": ["javanese"]},
    "grid": {"methods": ["circuit", "nearzero", "full"], "k": [4], "shots": [25], "seeds": [31]},
    "proxy_tuning": {"n_src": 50, "epochs": 2, "lr": 5e-5, "batch_size": 16, "warmup": 0.1},
    "discovery": {"scorer": "directional", "n_examples": 12, "max_pool": 90, "depth": 0, "per_depth": 4,
                  "on_targets": False},
    "tuning": {"epochs": 3, "lr": 5e-5, "batch_size": 16, "warmup": 0.1, "per_method": {"full": {"lr": 1e-5}}},
    "evaluation": {"n_test": 150, "n_valid": 60},
}

#: The paper's budget (``--full``): the settings of arXiv 2601.08146 v1 on this model.
PAPER_BUDGET: dict[str, Any] = {
    "name": "demo-full",
    "budget": "paper",
    "description": (
        "CT-SFT on Gemma-3-270M with the paper's settings: n_src 50, 5 epochs, batch 16, max length 128, discovery "
        "on 50 examples with CD-T growth to depth 2 at the paper's 2 % of heads per depth (1 of Gemma's 72), so "
        "k = 1 / 2 / 3 are the depth-0 / 1 / 2 circuits; n in {25, 50, 75, 100}, seeds 31/777/2025/12345, the full "
        "test sets. The learning rate of every run is chosen on target validation from {1e-5, 5e-5, 2e-4} (the "
        "paper used 5e-5 for all, which is unfair to full fine-tuning)."
    ),
    "backend": "ctsft",
    "model": {"name": "gemma-3-270m"},
    "data": {"dataset": "nusax", "proxy": ["indonesian"], "targets": ["javanese"]},
    "grid": {"methods": ["circuit", "nearzero", "full", "direct", "ctsft-auto"], "k": [1, 2, 3],
             "shots": [25, 50, 75, 100], "seeds": [31, 777, 2025, 12345]},
    "proxy_tuning": {"n_src": 50, "epochs": 5, "lr": 5e-5, "batch_size": 16, "warmup": 0.1},
    "discovery": {"scorer": "directional", "n_examples": 50, "depth": 2, "per_depth": 0.02, "on_targets": False},
    "tuning": {"epochs": 5, "lr": 5e-5, "lr_grid": [1e-5, 5e-5, 2e-4], "batch_size": 16, "warmup": 0.1},
    "evaluation": {"n_test": 0, "n_valid": 100},
}

DEMO_NOTE = {
    "demo": ("circuitlab demo: Gemma-3-270M, proxy indonesian -> target {target}, DEMO BUDGET (about 10 min on a "
             "2-core CPU; `--full` for the paper's settings).\n  data: {data}\n  run folder: {out} (rerun to "
             "resume; finished cells are kept)\n"),
    "full": ("circuitlab demo --full: Gemma-3-270M, proxy indonesian -> target {target}, PAPER BUDGET (hours on a "
             "CPU).\n  data: {data}\n  run folder: {out} (rerun to resume; finished cells are kept)\n"),
}


def find_data_dir(candidates: list[str | Path] | None = None) -> Path | None:
    """A local NusaX folder (see :func:`circuitlab.data.find_data`); ``None`` means the hub will be tried."""
    from circuitlab.data import find_data

    return find_data("nusax", candidates)


def demo_spec(target: str = "javanese", full: bool = False, data_dir: str | Path | None = None,
              **overrides: Any) -> ExperimentSpec:
    """The demo's spec: :data:`DEMO_BUDGET` (or :data:`PAPER_BUDGET` with ``full``) for ``target``.

    ``overrides`` are dotted fields (``demo_spec(**{"tuning.epochs": 1})``).
    """
    import copy

    data = copy.deepcopy(PAPER_BUDGET if full else DEMO_BUDGET)
    data["data"]["targets"] = [target]
    if data_dir is not None:
        data["data"]["data_dir"] = str(data_dir)
    spec = spec_from_dict(data, source="circuitlab demo")
    name = f"{data['name']}-{spec.data.targets[0]}"
    return spec.replace(name=name, **overrides)


def default_out(spec: ExperimentSpec) -> Path:
    """``runs/<name>`` under the working directory (``-<precision>`` added when it is not 'highest')."""
    suffix = "" if spec.model.matmul_precision == "highest" else f"-{spec.model.matmul_precision}"
    return Path("runs") / f"{spec.name}{suffix}"


__all__ = ["DEMO_BUDGET", "DEMO_NOTE", "PAPER_BUDGET", "default_out", "demo_spec", "find_data_dir"]
