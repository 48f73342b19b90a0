"""The foundation commands end to end on tiny models and real NusaX data, and their errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from circuitlab.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_models_lists_registry():
    res = invoke("models")
    assert res.exit_code == 0
    for name in ("gemma-3-270m", "smollm2-135m", "tiny-qwen2", "tiny-gpt2"):
        assert name in res.output


def test_languages_reports_local_data(nusax_dir):
    res = invoke("languages", "--dataset", "nusax", "--data-dir", nusax_dir)
    assert res.exit_code == 0
    assert "local data (9/12)" in res.output and "buginese" in res.output.split("hub only:")[1]


def test_evaluate_tiny_writes_json(nusax_dir, tmp_path):
    out = tmp_path / "m.json"
    res = invoke("evaluate", "--model", "tiny-qwen2", "--language", "javanese", "--split", "valid", "--limit", "12",
                 "--data-dir", nusax_dir, "--json", out, "--quiet")
    assert res.exit_code == 0, res.output
    payload = json.loads(out.read_text())
    assert payload["n"] == 12 and len(payload["predictions"]) == 12 and 0 <= payload["accuracy"] <= 1
    assert sum(payload["gold_counts"].values()) == 12
    again = invoke("evaluate", "--model", "tiny-qwen2", "--language", "javanese", "--limit", "4",
                   "--data-dir", nusax_dir, "--json", out, "--quiet")
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert json.loads(out.read_text())["n"] == 12  # nothing lost


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "nope-model"], "Unknown model"),
        (["--language", "klingon"], "Unknown NusaX language"),
        (["--split", "dev2"], "split"),
        (["--verbalizer", "negative= ala", "--verbalizer", "positive= ala banget"], "token prefix"),
        (["--verbalizer", "oops"], "LABEL=WORD"),
    ],
)
def test_evaluate_bad_input_exits_2_with_message(nusax_dir, args, message):
    res = invoke("evaluate", "--model", "tiny-qwen2", "--data-dir", nusax_dir, "--limit", "2", "--quiet", *args)
    assert res.exit_code == 2
    assert message.lower() in res.output.lower()


def test_evaluate_missing_data_dir(tmp_path):
    res = invoke("evaluate", "--model", "tiny-qwen2", "--data-dir", tmp_path / "nowhere", "--quiet")
    assert res.exit_code == 2 and "nowhere" in res.output
