"""``circuitlab tune`` on a tiny model: the issue's flags, refusal to overwrite, resume."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

import circuitlab.cli.tune  # noqa: F401  (registers the command)
from circuitlab.cli.app import app


def test_tune_end_to_end_and_refusals(nusax_dir, tmp_path):
    out = tmp_path / "out"
    args = ["tune", "--model", "tiny-llama", "--proxy", "indonesian", "--target", "javanese", "--method", "random",
            "--method", "norms", "--k", "2", "--shots", "6", "--seeds", "31", "777", "--out", str(out),
            "--data-dir", str(nusax_dir), "--n-src", "6", "--epochs", "1", "--proxy-epochs", "1",
            "--lr-grid", "1e-3,1e-2", "--batch-size", "4", "--test-limit", "9", "--val-limit", "6",
            "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "results.csv")
    assert sorted(df["method"]) == ["norms", "norms", "random", "random"] and set(df["seed"]) == {31, 777}
    assert set(df["lr"]) <= {1e-3, 1e-2} and (df["status"] == "ok").all()
    assert not df["group_by_length"].any()
    assert "| javanese | random |" in res.output
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "not empty" in again.output and "--resume" in again.output
    resumed = CliRunner().invoke(app, args + ["--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert len(pd.read_csv(out / "results.csv")) == 4
    grouped = CliRunner().invoke(app, args + ["--out", str(tmp_path / "grouped"), "--group-by-length"])
    assert grouped.exit_code == 0, grouped.output
    assert pd.read_csv(tmp_path / "grouped" / "results.csv")["group_by_length"].all()


def test_bad_inputs_exit_2_with_a_message(tmp_path):
    base = ["tune", "--model", "tiny-llama", "--out", str(tmp_path / "o"), "--quiet"]
    res = CliRunner().invoke(app, base + ["--target", "javanese", "--method", "magic"])
    assert res.exit_code == 2 and "Unknown tuning method 'magic'" in res.output
    res = CliRunner().invoke(app, base + ["--target", "javanese", "--k", "eight"])
    assert res.exit_code == 2 and "--k must be" in res.output
    res = CliRunner().invoke(app, base + ["--target", "indonesian"])
    assert res.exit_code == 2 and "cannot also be a target" in res.output
    res = CliRunner().invoke(app, base + ["--target", "javanese", "stray"])
    assert res.exit_code == 2 and "Unexpected argument" in res.output
