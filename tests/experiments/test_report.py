"""The report: self-contained (plotly.js inline once, no network), rebuilt from the run folder alone."""

from __future__ import annotations

import re
import shutil
import subprocess

import pandas as pd
import plotly.io as pio
import pytest

from circuitlab.experiments import RunFolder, run_sweep, write_report
from circuitlab.experiments.fake import FakeBackend
from circuitlab.experiments.report import format_headline, headline_table, render_report
from circuitlab.synthetic import FAKE_BACKEND

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    from circuitlab.experiments import spec_from_dict

    spec = spec_from_dict({
        "name": "report-test", "backend": "fake", "runtime": {"quiet": True},
        "data": {"targets": ["javanese", "sundanese", "acehnese"]},
        "grid": {"methods": ["circuit", "nearzero", "full", "direct", "ctsft-auto"], "k": [3], "shots": [25, 100],
                 "seeds": [31, 777]},
        "discovery": {"on_targets": True},
    })
    out = tmp_path_factory.mktemp("report") / "run"
    run_sweep(spec, out)
    return RunFolder(out)


def test_report_is_self_contained(finished_run):
    page = finished_run.report_path.read_text()
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    assert page.count(js[:200]) == 1  # plotly.js embedded exactly once
    rest = page.replace(js, "")
    assert not re.search(r"<script[^>]+src=", rest)  # nothing loaded from elsewhere
    assert "cdn.plot.ly" not in rest and "<link" not in rest and "https://" not in rest
    for name in ("accuracy_by_method", "forgetting_vs_gain", "editing_vs_preserving_n25", "head_scores_indonesian",
                 "overlap_curves_indonesian"):
        assert f"data-name='{name}'" in page, name
        assert (finished_run.figures_dir / f"{name}.json").exists()
    assert "Headline results" in page and "Transfer difficulty" in page and "fake" in page
    # provenance: each session's wall time and command; the fake rows have no per-example bits
    assert re.search(r"1 session\(s\), \d+:\d\d:\d\d of wall time in all", page)
    assert "blocks + examples" not in page and "Paired differences" in page
    fig = pio.read_json(finished_run.figures_dir / "accuracy_by_method.json")
    assert len(fig.data) >= 5


def test_report_rebuilds_from_the_folder_and_survives_a_partial_run(finished_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(finished_run.path, copy, ignore=shutil.ignore_patterns("report.html", "figures"))
    for p in sorted((copy / "cells").glob("*.json"))[::2]:
        p.unlink()
    path = write_report(copy)
    page = path.read_text()
    assert "Partial run" in page and "Headline results" in page


def test_headline_table(finished_run):
    df = finished_run.results()
    table = headline_table(df, ["circuit", "nearzero", "full", "direct", "ctsft-auto"])
    # 3 targets x 2 shots x 5 methods, 2 seeds each
    assert len(table) == 30 and set(table["n"]) == {2}
    rows = format_headline(table)
    assert "±" in rows[0]["target_acc"] and rows[0]["method"] == "circuit"
    assert rows[2]["k"] == "-" and rows[0]["k"] == "3"


def test_fake_backend_stamps_every_row(finished_run):
    assert FakeBackend.name == FAKE_BACKEND
    df = finished_run.results()
    assert set(df["backend"]) == {"fake"} and "ctsft-auto" in set(df["method"])  # derived cells too
    scores = list(finished_run.path.glob("stages/**/scores.parquet"))
    assert scores and all(set(pd.read_parquet(p)["backend"]) == {"fake"} for p in scores)


def test_report_of_fake_rows_carries_a_banner_at_the_top(finished_run):
    page = finished_run.report_path.read_text()
    body = page.split("<body>", 1)[1]
    assert body.lstrip().startswith("<div class='fake-banner'")  # before the title, before any number
    assert body.index("fake-banner") < body.index("<h1>")
    assert "FAKE BACKEND: SYNTHETIC NUMBERS, NOT MEASUREMENTS" in body and "Every result row" in body
    assert "<title>FAKE BACKEND · " in page and "fakebadge'>FAKE BACKEND" in body
    headline = body.split("Headline results", 1)[1].split("<h2>", 1)[0]
    assert headline.count("<tr class='fake'>") == 30 and "<td class=''>FAKE</td>" in headline
    fig = pio.read_json(finished_run.figures_dir / "accuracy_by_method.json")
    assert fig.layout.title.text.startswith("FAKE BACKEND · ")  # a figure saved on its own says so too


def test_headline_marks_fake_groups_and_rows_without_backend_are_real(finished_run):
    df = finished_run.results()
    rows = format_headline(headline_table(df))
    assert {r["backend"] for r in rows} == {"FAKE"} and list(rows[0])[0] == "backend"
    mixed = df.assign(backend=["ctsft" if s == 31 else "fake" for s in df["seed"]])
    assert {r["backend"] for r in format_headline(headline_table(mixed))} == {"FAKE 1/2"}
    for real in (df.drop(columns="backend"), df.assign(backend="ctsft")):
        table = headline_table(real)
        assert "n_fake" not in table and "backend" not in format_headline(table)[0]


def test_old_fake_run_without_backend_column_still_gets_the_banner(finished_run):
    page, _ = render_report(finished_run, finished_run.results().drop(columns="backend"))
    assert "fake-banner" in page and "spec names the fake backend" in page and "<tr class='fake'>" not in page


@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="needs Chromium")
def test_report_renders_offline_in_headless_chromium(finished_run):
    """Open report.html in headless Chromium with networking blocked; every figure must be drawn."""
    n_figures = finished_run.report_path.read_text().count("<figure class='plot'")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--virtual-time-budget=20000",
           "--dump-dom", finished_run.report_path.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=180).stdout
    assert "Headline results" in dom
    # plotly replaces each figure's empty div with an SVG scene when (and only when) plotly.js ran
    assert dom.count('class="plot-container plotly"') == n_figures >= 8
    assert dom.count('class="main-svg"') >= n_figures


def test_paired_markdown_puts_k_in_columns_and_bolds_intervals_that_exclude_zero():
    from circuitlab.experiments.report_paired import paired_markdown

    diffs = pd.DataFrame({"comparison": ["circuit − random"] * 3 + ["circuit − full"],
                          "a": ["circuit"] * 4, "b": ["random"] * 3 + ["full"],
                          "k": [1.0, 16.0, "pooled", "pooled"],
                          "delta": [0.044, -0.008, 0.004, -0.053], "ci_lo": [0.026, -0.024, -0.009, -0.102],
                          "ci_hi": [0.064, 0.008, 0.018, -0.008]})
    forget = pd.DataFrame({"method": ["full"], "k": ["—"], "delta": [-0.064], "ci_lo": [-0.11], "ci_hi": [-0.017]})
    lines = paired_markdown(diffs, forget).splitlines()
    assert lines[0] == "| paired difference in target accuracy | k = 1 | k = 16 | pooled |"
    assert lines[2] == ("| circuit − random | **+0.044 [+0.026, +0.064]** | −0.008 [−0.024, +0.008] "
                        "| +0.004 [−0.009, +0.018] |")
    assert lines[3] == "| circuit − full |  |  | **−0.053 [−0.102, −0.008]** |"  # ctsft-auto absent: no row
    assert lines[-1] == "| full | **−0.064 [−0.110, −0.017]** |"  # a method without k: the pooled column
    assert paired_markdown(pd.DataFrame(), None) == ""
