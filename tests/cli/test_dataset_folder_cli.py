"""The CLI takes a dataset folder wherever it takes a dataset name (``--dataset PATH``)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from circuitlab.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_evaluate_a_dataset_folder(dataset_folder, tmp_path):
    out = tmp_path / "m.json"
    res = invoke("evaluate", "--model", "tiny-qwen2", "--dataset", dataset_folder, "--language", "su", "--split",
                 "dev", "--json", out, "--quiet")
    assert res.exit_code == 0, res.output
    payload = json.loads(out.read_text())
    assert payload["dataset"] == str(dataset_folder.resolve()) and payload["n"] == 12
    assert payload["template"] == "Review: {text}\nSentiment:"
    assert payload["verbalizers"] == {"bad": " negative", "good": " positive"}


def test_evaluate_reports_a_bad_folder_in_one_line(dataset_folder):
    res = invoke("evaluate", "--model", "tiny-qwen2", "--dataset", dataset_folder, "--language", "javanese",
                 "--quiet")
    assert res.exit_code == 2 and "Unknown tiny-reviews language 'javanese'" in res.output
    (dataset_folder / "dataset.toml").unlink()
    res = invoke("evaluate", "--model", "tiny-qwen2", "--dataset", dataset_folder, "--language", "jv", "--quiet")
    assert res.exit_code == 2 and "No dataset.toml in" in res.output


def test_languages_lists_a_folders_languages_and_splits(dataset_folder):
    (dataset_folder / "su" / "test.csv").unlink()
    res = invoke("languages", "--dataset", dataset_folder)
    assert res.exit_code == 0, res.output
    assert "tiny-reviews (" in res.output and "jv: train, valid, test" in res.output
    assert "su: train, valid\n" in res.output


def test_tune_dry_run_takes_a_dataset_folder(dataset_folder):
    res = invoke("tune", "--out", dataset_folder.parent / "run", "--dataset", dataset_folder, "--model", "tiny-qwen2",
                 "--proxy", "jv", "--target", "su", "--method", "full", "--shots", "2", "--n-src", "4",
                 "--set", "proxy_tuning.pool_a=6", "--set", "proxy_tuning.pool_b=4", "--dry-run")
    assert res.exit_code == 0, res.output
    assert f'dataset = "{dataset_folder.resolve()}"' in res.output and "dataset_sha256 = " in res.output
