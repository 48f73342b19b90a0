"""Bring your own dataset, end to end: a folder in a layout no other test uses, native multi-token labels.

The folder is built from NusaX rows (Indonesian as the proxy, Javanese as the target) but
looks nothing like NusaX: TSV files named ``<split>/<language>.tsv``, other column names,
and Javanese label words whose verbalizers are several tokens. ``evaluate``, ``discover``
and ``tune`` take it by path; tiny models here, Gemma-3-270M in the slow test.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from circuitlab.cli import app
from circuitlab.data import load_nusax

runner = CliRunner()
WORDS = {"negative": "ala", "neutral": "biasa", "positive": "apik"}
TOML = '''name = "ulasan"
format = "tsv"
files = "{split}/{language}.tsv"
[columns]
id = "nomer"
text = "ukara"
label = "rasa"
[splits]
valid = "dev"
[task]
template = "Ukara: {text}\\nRasa:"
[task.verbalizers]
ala = " ala"
biasa = " biasa saja"
apik = " apik"
'''


def make_folder(root: Path, nusax_dir: Path, n: dict[str, int]) -> Path:
    """Write the dataset folder: ``n[split]`` rows per language and split, with Javanese label words."""
    folder = root / "ulasan"
    for language in ("indonesian", "javanese"):
        for split, name in (("train", "train"), ("valid", "dev"), ("test", "test")):
            path = folder / name / f"{language}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh, delimiter="\t")
                w.writerow(["nomer", "rasa", "ukara"])
                for e in load_nusax(language, split, nusax_dir)[: n[split]]:
                    w.writerow([e.id, WORDS[e.label], e.text])
    (folder / "dataset.toml").write_text(TOML, encoding="utf-8")
    return folder


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


def run_all(tmp_path: Path, folder: Path, model: str, sizes: dict) -> pd.DataFrame:
    """evaluate -> discover -> tune on ``folder``, each through the CLI; returns the tune rows."""
    ev = tmp_path / "eval.json"
    _ok(runner.invoke(app, ["evaluate", "--model", model, "--dataset", str(folder), "--language", "javanese",
                            "--split", "test", "--limit", str(sizes["test"]), "--json", str(ev), "--quiet"]))
    metrics = json.loads(ev.read_text())
    assert metrics["n"] == sizes["test"] and set(metrics["labels"]) == set(WORDS.values())
    _ok(runner.invoke(app, ["discover", "--model", model, "--dataset", str(folder), "--language", "indonesian",
                            "--split", "train", "--n-examples", str(sizes["discovery"]), "--include-incorrect",
                            "--out", str(tmp_path / "scores.parquet"), "--quiet"]))
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert len(scores) > 0 and scores.select_dtypes("number").notna().any().any()
    _ok(runner.invoke(app, [
        "tune", "--model", model, "--dataset", str(folder), "--target", "javanese", "--method", "circuit,full",
        "--k", "2", "--shots", str(sizes["shots"]), "--seeds", "31", "--epochs", "1", "--batch-size", "6",
        "--n-src", str(sizes["n_src"]), "--proxy-epochs", "1", "--discovery-n", str(sizes["discovery"]),
        "--test-limit", str(sizes["test"]), "--val-limit", str(sizes["valid"]), "--lr-grid", "1e-4",
        "--set", "discovery.require_correct=false", "--set", f"proxy_tuning.pool_a={sizes['pool_a']}",
        "--set", f"proxy_tuning.pool_b={sizes['shots']}", "--out", str(tmp_path / "tune"), "--quiet"]))
    rows = pd.read_parquet(tmp_path / "tune" / "results.parquet")
    assert set(rows["method"]) == {"circuit", "full"} and (rows["status"] == "ok").all()
    assert rows[["target_acc", "target_acc_before", "proxy_acc_before", "proxy_acc_after"]].notna().all().all()
    assert (rows["dataset"] == str(folder.resolve())).all()
    small = runner.invoke(app, ["tune", "--model", model, "--dataset", str(folder), "--target", "javanese",
                                "--dry-run", "--quiet", "--out", str(tmp_path / "too-big")])
    assert small.exit_code == 2 and "proxy_tuning.pool_a" in small.output, small.output  # default pools: 400 + 100
    return rows


def test_own_folder_runs_evaluate_discover_tune_on_a_tiny_model(tmp_path, nusax_dir):
    from circuitlab.models import load_model
    from circuitlab.tasks import make_task

    folder = make_folder(tmp_path, nusax_dir, {"train": 40, "valid": 9, "test": 12})
    task = make_task(str(folder), load_model("tiny-qwen2").tokenizer)
    assert task.sequence_scoring and task.labels == ("ala", "biasa", "apik")
    run_all(tmp_path, folder, "tiny-qwen2",
            {"test": 12, "valid": 9, "shots": 6, "n_src": 9, "discovery": 6, "pool_a": 30})


@pytest.mark.slow
def test_own_folder_runs_evaluate_discover_tune_on_gemma(tmp_path, nusax_dir, gemma):
    from circuitlab.tasks import make_task

    folder = make_folder(tmp_path, nusax_dir, {"train": 60, "valid": 12, "test": 24})
    task = make_task(str(folder), gemma.tokenizer)
    assert [len(t) for t in task.label_tokens] == [1, 2, 2]  # ▁ala | ▁biasa ▁saja | ▁ap ik
    rows = run_all(tmp_path, folder, "gemma-3-270m",
                   {"test": 24, "valid": 12, "shots": 12, "n_src": 24, "discovery": 6, "pool_a": 48})
    assert (rows["model"] == "gemma-3-270m").all()


def test_the_readme_example_folder_reads_nusax_with_native_labels(tmp_path, nusax_dir):
    """``examples/datasets/nusax-native``, set up as the README says: its toml beside a link to the data."""
    from circuitlab.data import get_dataset, load_examples, load_nusax

    folder = tmp_path / "nusax-native"
    folder.mkdir()
    (folder / "dataset.toml").write_text(
        (Path(__file__).resolve().parents[2] / "examples" / "datasets" / "nusax-native" / "dataset.toml").read_text())
    (folder / "sentiment").symlink_to(nusax_dir / "sentiment", target_is_directory=True)
    spec = get_dataset(str(folder))
    assert {"indonesian", "javanese"} <= set(spec.languages) and spec.title == "nusax-native"
    ours, theirs = load_examples(str(folder), "javanese", "test"), load_nusax("javanese", "test", nusax_dir)
    assert [(e.id, e.text, e.label) for e in ours] == [(e.id, e.text, e.label) for e in theirs]
