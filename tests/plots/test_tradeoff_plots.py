import pandas as pd
import pytest

from circuitlab.analysis import editing_vs_preserving, forgetting_vs_gain, rank_correlation_with_ci
from circuitlab.plots import METHOD_COLORS, accuracy_vs_shots, forgetting_vs_gain_scatter, tradeoff_scatter


def tradeoff_table() -> pd.DataFrame:
    return pd.DataFrame({
        "target": ["ace", "bug", "jav", "min"],
        "delta": [0.03, 0.05, -0.02, 0.01],
        "ci_lo": [0.01, 0.02, -0.05, -0.01],
        "ci_hi": [0.05, 0.09, 0.00, 0.02],
        "a0": [0.471, 0.366, 0.581, 0.554],
    })


def test_tradeoff_scatter_points_error_bars_and_rho():
    df = tradeoff_table()
    fig = tradeoff_scatter(df, "a0", n_boot=300, seed=1)
    (pts,) = fig.data
    assert list(pts.x) == [0.366, 0.471, 0.554, 0.581]  # sorted by the measure
    assert list(pts.text) == ["bug", "ace", "min", "jav"]
    assert list(pts.y) == [0.05, 0.03, 0.01, -0.02]
    assert list(pts.error_y.array) == pytest.approx([0.04, 0.02, 0.01, 0.02])
    assert list(pts.error_y.arrayminus) == pytest.approx([0.03, 0.02, 0.02, 0.03])
    rho, lo, hi = rank_correlation_with_ci(df["a0"], df["delta"], n_boot=300, seed=1)
    assert rho == pytest.approx(-1.0)
    assert fig.layout.meta["rho"] == rho and fig.layout.meta["lo"] == lo and fig.layout.meta["hi"] == hi
    note = [a.text for a in fig.layout.annotations if a.name == "rho"][0]
    assert note.startswith("Spearman ρ = -1.00 [") and "n = 4" in note
    assert fig.layout.xaxis.title.text == "a0 (← harder)"


def test_tradeoff_scatter_from_analysis_output(results):
    difficulty = pd.DataFrame({"target": ["ace", "jav"], "gap": [0.3, 0.1]})
    table = editing_vs_preserving(results[results["shots"] == 100], difficulty)
    fig = tradeoff_scatter(table, "gap", n_boot=50)
    assert list(fig.data[0].y) == pytest.approx([0.05, 0.05])
    assert "circuit − nearzero" in fig.layout.yaxis.title.text


def test_forgetting_vs_gain_scatter(results):
    summary = forgetting_vs_gain(results)
    fig = forgetting_vs_gain_scatter(summary)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"circuit", "nearzero"}
    assert by_name["circuit"].y[0] == pytest.approx(0.02)
    assert by_name["circuit"].x[0] == pytest.approx(summary.set_index("method").loc["circuit", "gain_mean"])
    assert by_name["circuit"].marker.color == METHOD_COLORS["circuit"]
    assert by_name["nearzero"].error_y.array[0] == pytest.approx(0.0)
    raw = forgetting_vs_gain_scatter(results)  # raw results are summarised on the fly
    assert [t.y[0] for t in raw.data] == [t.y[0] for t in fig.data]


def test_accuracy_vs_shots_lines_per_method_and_panel(results):
    fig = accuracy_vs_shots(results)
    assert [a.text for a in fig.layout.annotations] == ["ace", "jav"]
    assert len(fig.data) == 4
    ace_circuit = [t for t in fig.data if t.name == "circuit" and t.xaxis == "x"][0]
    assert list(ace_circuit.x) == [25, 100]
    assert list(ace_circuit.y) == pytest.approx([0.525, 0.60])
    assert list(ace_circuit.error_y.array) == pytest.approx([0.0141421356, 0.0141421356])
    assert [t.showlegend for t in fig.data] == [True, True, False, False]


def test_accuracy_vs_shots_refuses_mixed_k(results):
    with pytest.raises(ValueError, match="one k"):
        accuracy_vs_shots(pd.concat([results, results.assign(k=6)]))
    single = accuracy_vs_shots(results[results["target"] == "ace"], facet=None)
    assert len(single.data) == 2
