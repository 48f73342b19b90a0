"""``circuitlab translate`` end to end on a tiny model and real NusaX pairs, and its errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from circuitlab.cli import app

runner = CliRunner()
SMALL = ["--model", "tiny-qwen2", "--n-train", "4", "--n-test", "3", "--n-discovery", "2", "--epochs", "1",
         "--batch-size", "2", "--max-new-tokens", "4", "--max-length", "1024"]  # the tiny tokenizer splits finely


def invoke(*args):
    return runner.invoke(app, ["translate", *[str(a) for a in args]])


@pytest.mark.parametrize("method", ["circuit", "lora"])
def test_translate_runs_and_writes_results(method, nusax_dir, tmp_path):
    out = tmp_path / method
    res = invoke("--method", method, "--k", "3", *SMALL, "--data-dir", nusax_dir, "--out", out)
    assert res.exit_code == 0, res.output
    r = json.loads((out / "results.json").read_text())
    assert (out / "before.json").exists() and "forgetting" in res.output
    assert len(r["before"]["target"]["hypotheses"]) == 3 and len(r["after"]["proxy"]["references"]) == 3
    assert 0 <= r["after"]["target"]["chrf"] <= 100
    assert r["forgetting"] == pytest.approx(r["before"]["proxy"]["chrf"] - r["after"]["proxy"]["chrf"])
    assert r["training"]["steps"] == 2 and r["training"]["n_trainable"] > 0
    assert list((out / "trainer").rglob("events.out.tfevents.*"))  # TensorBoard
    if method == "circuit":
        assert len(r["heads"]) == 3 and len(r["scores"]) == 3  # tiny-qwen2: 3 layers
        assert r["config"]["scorer"] == "directional"
    else:
        assert r["heads"] is None
    again = invoke("--method", method, *SMALL, "--data-dir", nusax_dir, "--out", out)
    assert again.exit_code == 2 and "--overwrite" in again.output  # nothing computed is replaced


def test_translate_evaluate_only(nusax_dir):
    res = invoke("--method", "none", *SMALL, "--data-dir", nusax_dir)
    assert res.exit_code == 0, res.output
    assert "target_before" in res.output and "target_after" not in res.output


@pytest.mark.parametrize("args, message", [
    (["--method", "adapter"], "Unknown method"),
    (["--scorer", "magic"], "Unknown scorer"),
    (["--k", "13"], "k=13 but the model has 12 heads"),
    (["--source", "klingon"], "klingon"),
    (["--source", "english"], "both 'english'"),
])
def test_translate_errors_are_clear(args, message, nusax_dir, tmp_path):
    res = invoke(*SMALL, "--data-dir", nusax_dir, "--out", tmp_path / "o", *args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output
