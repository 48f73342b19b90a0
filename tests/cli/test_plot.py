"""``circuitlab plot`` end to end on small hand-made tables: files written, figure data, errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import circuitlab.cli.plot  # noqa: F401  (registers the command until circuitlab.cli imports it)
from circuitlab.cli import app

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, ["plot", *(str(a) for a in args)])


def score_rows(grid, **meta):
    return [dict(layer=l, head=h, score=float(s), **meta) for l, row in enumerate(grid) for h, s in enumerate(row)]


@pytest.fixture
def tables(tmp_path):
    scores = pd.DataFrame(
        score_rows([[0.5, -0.2, 0.1], [0.9, 0.0, -0.7]], model="tiny", method="directional", language="indonesian")
        + score_rows([[0.4, 0.3, -0.1], [0.8, 0.2, -0.5]], model="tiny", method="directional", language="javanese")
    )
    scores.to_csv(tmp_path / "scores.csv", index=False)
    rows = []
    # Δ per target: ace +0.10, jav +0.05, min 0.00, sun -0.05 (each seed shifts both methods equally)
    for target, delta, a0 in (("ace", 0.10, 0.40), ("jav", 0.05, 0.50), ("min", 0.0, 0.55), ("sun", -0.05, 0.60)):
        for seed, shift in ((31, -0.01), (777, 0.0), (2025, 0.01)):
            for method, acc in (("circuit", 0.6 + delta), ("nearzero", 0.6)):
                rows.append(dict(proxy="indonesian", target=target, method=method, k=6, shots=50, seed=seed,
                                 target_acc=acc + shift, forgetting=0.02 if method == "circuit" else 0.01,
                                 target_acc_before=a0))
    pd.DataFrame(rows).to_parquet(tmp_path / "results.parquet", index=False)
    pd.DataFrame({"target": ["ace", "jav", "min", "sun"], "lex_mean_nld": [0.4, 0.3, 0.2, 0.1]}).to_csv(
        tmp_path / "difficulty.csv", index=False)
    return tmp_path


def test_plot_writes_html_and_png_and_a_manifest(tables):
    out = tables / "figs"
    res = invoke(out, "--scores", tables / "scores.csv", "--k", "3", "--n-perm", "50", "--quiet")
    assert res.exit_code == 0, res.output
    names = {"heatmap__tiny__directional__indonesian", "heatmap__tiny__directional__javanese",
             "overlap_matrix__tiny__directional", "spearman_matrix__tiny__directional",
             "overlap_curves__tiny__directional", "difference__tiny__directional__indonesian_vs_javanese"}
    for name in names:
        for fmt in ("html", "png"):
            path = out / f"{name}.{fmt}"
            assert path.is_file() and path.stat().st_size > 0, path
    manifest = json.loads((out / "figures.json").read_text())
    assert set(manifest["figures"]) == names and manifest["formats"] == ["html", "png"]
    pair = manifest["figures"]["overlap_matrix__tiny__directional"]["pairs"][0]
    assert (pair["a"], pair["b"]) == ("indonesian", "javanese")
    assert pair["jaccard"] == pytest.approx(0.5) and pair["spearman"] == pytest.approx(27 / 35)
    assert manifest["figures"]["heatmap__tiny__directional__indonesian"]["k"] == 3
    assert "index.html" in {p.name for p in out.iterdir()}


def test_plot_tradeoff_from_results_and_difficulty(tables):
    out = tables / "trade"
    res = invoke(out, "-r", tables / "results.parquet", "-d", tables / "difficulty.csv", "-f", "html",
                 "--n-boot", "200", "--quiet")
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "figures.json").read_text())
    figures = manifest["figures"]
    # the difficulty file gives lex_mean_nld; A0 comes from target_acc_before in the results
    assert {"tradeoff__lex_mean_nld", "tradeoff__a0", "forgetting_vs_gain"} <= set(figures)
    lex = figures["tradeoff__lex_mean_nld"]
    deltas = {row["target"]: row["delta"] for row in lex["table"]}
    assert deltas == pytest.approx({"ace": 0.10, "jav": 0.05, "min": 0.0, "sun": -0.05})
    assert lex["meta"]["rho"] == pytest.approx(1.0) and lex["meta"]["n"] == 4  # farther -> more editing gain
    assert figures["tradeoff__a0"]["meta"]["rho"] == pytest.approx(-1.0)
    assert "accuracy_vs_shots" in manifest["skipped"]
    assert all(p.suffix in (".html", ".json") for p in out.iterdir())


def test_plot_errors_exit_2_with_a_message(tables):
    res = invoke(tables / "x")
    assert res.exit_code == 2 and "Nothing to plot" in res.output
    res = invoke(tables / "x", "--scores", tables / "missing.csv")
    assert res.exit_code == 2 and "missing.csv" in res.output
    res = invoke(tables / "x", "-r", tables / "results.parquet", "-d", tables / "difficulty.csv", "-m", "nope",
                 "-f", "html")
    assert res.exit_code == 2 and "nope" in res.output
    (tables / "scores.txt").write_text("layer,head,score\n")
    res = invoke(tables / "x", "--scores", tables / "scores.txt")
    assert res.exit_code == 2 and "Cannot read" in res.output


def test_plot_refuses_fake_backend_rows_unless_allowed(tables):
    fake = pd.read_parquet(tables / "results.parquet").assign(backend="fake")
    fake.to_parquet(tables / "fake.parquet", index=False)
    args = ["-r", tables / "fake.parquet", "-d", tables / "difficulty.csv", "-f", "html", "--n-boot", "50", "--quiet"]
    res = invoke(tables / "refused", *args)
    assert res.exit_code == 2 and not (tables / "refused").exists()
    (line,) = res.output.strip().splitlines()  # one line: what, why, and how to override
    assert f"{len(fake)} row(s) of the results table" in line and "fake test backend" in line
    assert "not measurements" in line and "--allow-fake" in line
    out = tables / "allowed"
    res = invoke(out, *args, "--allow-fake")
    assert res.exit_code == 0, res.output
    manifest = json.loads((out / "figures.json").read_text())
    assert manifest["sources"]["fake_rows"] == len(fake) and manifest["figures"]
    for name, info in manifest["figures"].items():
        assert info["title"].startswith("FAKE BACKEND · "), name
        assert "FAKE BACKEND" in (out / f"{name}.html").read_text()
    assert "FAKE BACKEND" in (out / "index.html").read_text()


def test_plot_takes_real_backend_rows_and_labels_only_fake_tables(tables):
    real = pd.read_parquet(tables / "results.parquet").assign(backend="ctsft")
    real.to_parquet(tables / "real.parquet", index=False)
    res = invoke(tables / "real", "-r", tables / "real.parquet", "-f", "html", "--n-boot", "50", "--quiet")
    assert res.exit_code == 0, res.output
    scores = pd.read_csv(tables / "scores.csv").assign(backend="fake")
    scores.to_csv(tables / "fake_scores.csv", index=False)
    out = tables / "mixed"
    res = invoke(out, "-s", tables / "fake_scores.csv", "-r", tables / "real.parquet", "--k", "3", "--n-perm", "20",
                 "-f", "html", "--n-boot", "50", "--quiet", "--allow-fake")
    assert res.exit_code == 0, res.output
    titles = {n: f["title"] for n, f in json.loads((out / "figures.json").read_text())["figures"].items()}
    assert titles["forgetting_vs_gain"] == "Forgetting vs target gain"  # from the real results
    assert all(t.startswith("FAKE BACKEND") for n, t in titles.items() if n.startswith(("heatmap", "overlap")))
