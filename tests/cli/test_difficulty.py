"""``circuitlab difficulty`` on a tiny model and real NusaX data: the table ``plot --difficulty`` reads."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from circuitlab.cli import app
from circuitlab.analysis import theta1_accuracies

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_difficulty_table_with_cka_and_lexicon(nusax_dir, tmp_path):
    out = tmp_path / "difficulty.csv"
    res = invoke("difficulty", "--model", "tiny-qwen2", "--target", "javanese", "--target", "sundanese",
                 "--data-dir", nusax_dir, "--eval-limit", "12", "--cka-n", "8", "--batch-size", "8", "--quiet",
                 "--out", out)
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out).set_index("target")
    assert list(table.index) == ["javanese", "sundanese"]
    assert table["a0"].between(0, 1).all() and table["cka_mean"].between(0, 1).all()
    assert (table["lex_share_different"] > 0).all()  # Javanese and Sundanese words differ from Indonesian ones
    cka = pd.read_csv(tmp_path / "difficulty.cka.csv")
    assert set(cka["target"]) == {"javanese", "sundanese"} and cka["layer"].nunique() > 1
    again = invoke("difficulty", "--model", "tiny-qwen2", "--target", "javanese", "--data-dir", nusax_dir,
                   "--out", out)
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_accuracies_come_from_theta1_cells_of_a_results_table(nusax_dir, tmp_path):
    results = pd.DataFrame({
        "target": ["javanese", "javanese", "sundanese"], "method": ["circuit", "direct", "full"],
        "start": ["proxy", "base", "proxy"], "target_acc_before": [0.4, 0.9, 0.5], "proxy_acc_before": [0.8, 0.6, 0.8],
    })
    acc = theta1_accuracies(results, "indonesian")
    assert acc == {"javanese": 0.4, "sundanese": 0.5, "indonesian": pytest.approx(0.8)}  # base-model cells left out
    path = tmp_path / "results.csv"
    results.to_csv(path, index=False)
    out = tmp_path / "d.csv"
    res = invoke("difficulty", "--target", "javanese", "--target", "sundanese", "--results", path, "--no-cka",
                 "--data-dir", nusax_dir, "--out", out)  # no model needed: accuracies given, no CKA
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out).set_index("target")
    assert table.loc["javanese", "a0"] == pytest.approx(0.4)
    assert table.loc["sundanese", "gap"] == pytest.approx(0.3)
    bad = invoke("difficulty", "--target", "balinese", "--results", path, "--no-cka", "--data-dir", nusax_dir,
                 "--out", tmp_path / "e.csv")
    assert bad.exit_code == 2 and "no θ1 cell for balinese" in bad.output


def test_accuracies_take_the_named_proxy_and_canonical_languages():
    results = pd.DataFrame({
        "proxy": ["ind", "indonesian", "english", "indonesian"], "target": ["jav", "javanese", "javanese", "sun"],
        "method": ["circuit"] * 4, "start": ["proxy"] * 4,
        "target_acc_before": [0.4, 0.4, 0.9, float("nan")], "proxy_acc_before": [0.8, 0.8, 0.7, 0.8],
    })
    acc = theta1_accuracies(results, "indonesian")
    assert acc == {"javanese": pytest.approx(0.4), "indonesian": pytest.approx(0.8)}  # English θ1 and NaN left out
    with pytest.raises(ValueError, match="proxies: english, indonesian"):
        theta1_accuracies(results, "minangkabau")
