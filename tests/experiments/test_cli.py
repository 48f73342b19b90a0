"""`circuitlab sweep`, `report` and `demo` through the typer app (fake backend; no model)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import circuitlab.cli.experiments  # noqa: F401  (registers the commands)
from circuitlab.cli.app import app
from circuitlab.experiments.spec import dump_toml

runner = CliRunner()


@pytest.fixture
def spec_file(tmp_path, spec_dict):
    path = tmp_path / "spec.toml"
    path.write_text(dump_toml(spec_dict(grid={"seeds": [31], "methods": ["circuit", "full", "ctsft-auto"]})))
    return path


def test_sweep_then_report(tmp_path, spec_file):
    out = tmp_path / "run"
    res = runner.invoke(app, ["sweep", str(spec_file), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "ctsft-auto" in res.output and "target_acc" in res.output and "report:" in res.output
    assert "12/12 cells done" in res.output  # circuit, nearzero (for ctsft-auto), full, ctsft-auto x 3 targets
    assert (out / "report.html").exists() and (out / "results.csv").exists()
    res = runner.invoke(app, ["report", str(out)])
    assert res.exit_code == 0, res.output
    assert "report:" in res.output and "javanese" in res.output
    again = runner.invoke(app, ["sweep", str(spec_file), "--out", str(out), "--quiet"])
    assert again.exit_code == 0 and "(0 this run)" in again.output


def test_set_overrides_reach_any_field_and_refusal_exits_2(tmp_path, spec_file):
    out = tmp_path / "run"
    assert runner.invoke(app, ["sweep", str(spec_file), "--out", str(out), "-q"]).exit_code == 0
    res = runner.invoke(app, ["sweep", str(spec_file), "--out", str(out), "-q", "--set", "tuning.lr=1e-3"])
    assert res.exit_code == 2 and "tuning.lr" in res.output and "--force" in res.output
    res = runner.invoke(app, ["sweep", str(spec_file), "--out", str(out), "-q", "--set", "tuning.lr=1e-3", "--force"])
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set", "grid.shots=[0]"], "grid.shots[0]"),
        (["--set", "tunning.lr=1"], "Did you mean 'tuning.lr'"),
        (["--executor", "dask"], "runtime.executor"),
    ],
)
def test_bad_input_exits_2_naming_the_field(tmp_path, spec_file, args, words):
    res = runner.invoke(app, ["sweep", str(spec_file), "--out", str(tmp_path / "run"), "-q", *args])
    assert res.exit_code == 2 and words in res.output, res.output


def test_failed_cells_exit_1(tmp_path, spec_dict):
    path = tmp_path / "spec.toml"
    path.write_text(dump_toml(spec_dict(grid={"seeds": [31]}, backend_options={"fail": ["-acehnese-full-"]})))
    res = runner.invoke(app, ["sweep", str(path), "--out", str(tmp_path / "run"), "-q"])
    assert res.exit_code == 1 and "acehnese-full" in res.output and "1 cell(s) failed" in res.output


def test_report_of_a_non_run_folder_exits_2(tmp_path):
    res = runner.invoke(app, ["report", str(tmp_path)])
    assert res.exit_code == 2 and "not a run folder" in res.output


def test_demo_help_names_the_budgets():
    res = runner.invoke(app, ["demo", "--help"])
    assert res.exit_code == 0 and "--full" in res.output and "--target" in res.output and "DEMO" in res.output
