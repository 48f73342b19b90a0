"""Every notebook runs top to bottom, headless, on the small budget; and is committed clean.

The notebooks are users of the public API, so they are tested like users: each is
executed with nbclient in a fresh kernel (``CIRCUITLAB_NOTEBOOK_BUDGET=small``, the
kernel's working directory a fresh temporary folder: nothing is cwd-bound). The cheap checks (no outputs,
public imports only) run always; executing a notebook loads real models and is
marked ``slow``.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9]*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def code_cells(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_the_five_notebooks_exist():
    stems = {p.stem.split("_", 1)[0] for p in NOTEBOOKS}
    assert {"01", "02", "03", "04", "05"} <= stems, f"found {IDS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name} cell {i} has outputs"


def _public(module: str) -> set[str]:
    mod = importlib.import_module(module)
    return set(getattr(mod, "__all__", ()))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_uses_only_the_public_api(path):
    """``from circuitlab.<package> import name`` with ``name`` in that package's ``__all__``; no private modules."""
    for source in code_cells(path):
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("circuitlab"):
                parts = node.module.split(".")
                assert len(parts) <= 2 and not any(p.startswith("_") for p in parts), (
                    f"{path.name}: import from {node.module!r}; use the package's top level (circuitlab.<package>)")
                public = _public(node.module)
                for alias in node.names:
                    assert alias.name in public, f"{path.name}: {alias.name!r} is not in {node.module}.__all__"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("circuitlab"):
                        assert len(alias.name.split(".")) <= 2, f"{path.name}: import {alias.name}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_runs_headless_on_the_small_budget(path, nusax_dir, monkeypatch, tmp_path):
    from nbclient import NotebookClient

    monkeypatch.setenv("CIRCUITLAB_NOTEBOOK_BUDGET", "small")
    monkeypatch.setenv("CIRCUITLAB_NUSAX_DIR", str(nusax_dir))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("PYTHONWARNINGS", "ignore")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})  # any working directory
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
