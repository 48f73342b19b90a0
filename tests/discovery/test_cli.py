"""``circuitlab discover`` end to end on a tiny model and the shared NusaX data."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import circuitlab.cli.discover  # noqa: F401  (registers the command)
from circuitlab.cli.app import app
from circuitlab.discovery import HeadScores

runner = CliRunner()


def _run(*args):
    return runner.invoke(app, ["discover", *args])


def test_discover_writes_scores_and_grows_a_circuit(nusax_dir, tmp_path):
    out = tmp_path / "scores.csv"
    res = _run("--model", "tiny-qwen2", "--data-dir", str(nusax_dir), "--n-examples", "6", "--include-incorrect",
               "--max-pool", "30", "--method", "mean-ablation", "--depth", "1", "--k", "2", "--out", str(out),
               "--quiet", "--batch-size", "4")
    assert res.exit_code == 0, res.output
    assert "top 10 heads by mean-ablation" in res.output
    scores = HeadScores.load(out)
    assert len(scores.table) == 12 and scores.meta["discovery_set"]["n"] == 6
    circuit = json.loads((tmp_path / "scores.csv.circuit.json").read_text())
    assert [len(d["chosen"]) for d in circuit["depths"]] == [2, 2]
    assert HeadScores.load(tmp_path / "scores.depth1.csv").meta["target"].startswith("heads:")
    again = _run("--model", "tiny-qwen2", "--data-dir", str(nusax_dir), "--out", str(out))
    assert again.exit_code == 2 and "already exist" in again.output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--method", "magic"], "unknown method 'magic'"),
        (["--n-examples", "0"], "must be at least 1"),
        (["--k", "2", "--share", "0.1"], "not both"),
        (["--share", "1.5"], "must be in (0, 1)"),
        (["--out-format"], "No such option"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, message):
    res = _run("--model", "tiny-qwen2", "--out", str(tmp_path / "s.csv"), *args)
    assert res.exit_code == 2
    assert message in res.output


def test_unbalanceable_discovery_set_is_a_clear_error(nusax_dir, tmp_path):
    res = _run("--model", "tiny-qwen2", "--data-dir", str(nusax_dir), "--n-examples", "300", "--max-pool", "20",
               "--out", str(tmp_path / "s.csv"), "--quiet")
    assert res.exit_code == 2
    assert "Cannot build a label-balanced discovery set of 300" in res.output
