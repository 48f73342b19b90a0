"""``circuitlab tune`` on a tiny model: the flags, resuming, refusing another grid in the same folder."""

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
            "--set", "proxy_tuning.batch_size=6", "--quiet"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out / "results.csv")
    assert sorted(df["method"]) == ["norms", "norms", "random", "random"] and set(df["seed"]) == {31, 777}
    assert set(df["lr"]) <= {1e-3, 1e-2} and (df["status"] == "ok").all()
    assert not df["group_by_length"].any()
    assert "4/4 cells done (4 this run)" in res.output and "javanese" in res.output
    assert (out / "spec.toml").exists() and (out / "report.html").exists()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "(0 this run)" in again.output  # the same command resumes
    other = CliRunner().invoke(app, args + ["--epochs", "2"])
    assert other.exit_code == 2 and "--force" in other.output and "--overwrite" in other.output
    assert len(pd.read_csv(out / "results.csv")) == 4  # nothing computed was lost
    one = args[:args.index("--method")] + ["--method", "random"] + args[args.index("--k"):]
    one = [a if a != str(out) else str(tmp_path / "grouped") for a in one if a != "777"]  # random, seed 31
    grouped = CliRunner().invoke(app, one + ["--group-by-length"])
    assert grouped.exit_code == 0, grouped.output
    assert pd.read_csv(tmp_path / "grouped" / "results.csv")["group_by_length"].all()


def test_bad_inputs_exit_2_with_a_message(tmp_path):
    base = ["tune", "--model", "tiny-llama", "--out", str(tmp_path / "o"), "--quiet"]
    res = CliRunner().invoke(app, base + ["--target", "javanese", "--method", "magic"])
    assert res.exit_code == 2 and "unknown method 'magic'" in res.output
    res = CliRunner().invoke(app, base + ["--target", "javanese", "--k", "eight"])
    assert res.exit_code == 2 and "--k must be" in res.output
    res = CliRunner().invoke(app, base + ["--target", "javanese", "--k", "13"])  # tiny models have 3 x 4 heads
    assert res.exit_code == 2 and "larger than the 12 heads" in res.output
    res = CliRunner().invoke(app, base + ["--target", "javanese", "stray"])
    assert res.exit_code == 2 and "Unexpected argument" in res.output
    assert not (tmp_path / "o").exists()
