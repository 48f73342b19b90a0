import pandas as pd
import pytest

from circuitlab.analysis import compare_languages, compare_models
from circuitlab.analysis.representations import cka_by_layer
from circuitlab.models.geometry import ModelGeometry
from circuitlab.plots import cka_plot, model_alignment_plot, overlap_curves_plot, stability_heatmap


def test_overlap_curves_plot_one_band_one_line_per_language(table_a, table_b):
    c = table_a.assign(language="min", score=-table_a["score"])
    cmp = compare_languages({"ind": table_a, "jav": table_b, "min": c}, k=2, n_perm=50)
    fig = overlap_curves_plot(cmp.curves)
    assert [t.name for t in fig.data] == ["chance (upper)", "chance band (95%)", "chance mean", "jav", "min"]
    jav = fig.data[3]
    assert list(jav.x) == [1, 2, 3, 4, 5, 6] and list(jav.y)[:3] == [1.0, 1.0, 0.5]
    assert fig.layout.title.text == "Top-k overlap with ind vs chance"
    assert fig.layout.legend.title.text == "language"


def _scores(grid, **meta):
    rows = [(l, h, float(v)) for l, row in enumerate(grid) for h, v in enumerate(row)]
    return pd.DataFrame(rows, columns=["layer", "head", "score"]).assign(**meta)


def test_model_alignment_plot_data():
    geom = lambda n, L, H: ModelGeometry(n, "tiny", L, H, 1, 4, 4 * H, "rmsnorm", 10)  # noqa: E731
    a = _scores([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]], model="a")
    b = _scores([[3.0, 0.0], [2.0, 0.0], [1.0, 0.0]], model="b")
    cmp = compare_models(a, geom("a", 6, 1), b, geom("b", 3, 2), n_bins=3, k=1)
    fig = model_alignment_plot(cmp)
    ta, tb = fig.data
    assert (ta.name, tb.name) == ("a", "b")
    assert list(ta.x) == pytest.approx([1 / 6, 0.5, 5 / 6])
    assert list(ta.y) == [2.0, 4.0, 6.0] and list(tb.y) == [3.0, 2.0, 1.0]
    assert list(ta.marker.size) == [6, 6, 13] and list(tb.marker.size) == [13, 6, 6]  # top-1 bins
    assert ta.text[0] == "layers [0, 1]" and tb.text[2] == "layers [2]"
    (note,) = fig.layout.annotations
    assert "ρ = -1.00" in note.text and "Jaccard = 0.00" in note.text


def test_stability_heatmap_values_and_outlines():
    freq = pd.DataFrame({"layer": [0, 0, 1, 1], "head": [0, 1, 0, 1], "count": [10, 2, 7, 1],
                         "frequency": [1.0, 0.2, 0.7, 0.1]})
    freq.attrs.update(k=2, n_boot=10)
    fig = stability_heatmap(freq)
    hm = fig.data[0]
    assert [list(r) for r in hm.z] == [[1.0, 0.2], [0.7, 0.1]] and (hm.zmin, hm.zmax) == (0, 1)
    assert sorted(s.name for s in fig.layout.shapes) == ["L0H0", "L1H0"]
    assert fig.layout.title.text == "Top-2 stability over 10 bootstrap resamples"
    assert len(stability_heatmap(freq, threshold=None).layout.shapes) == 0


def test_cka_plot_pairs_true_and_shuffled():
    import torch

    x = torch.tensor([[[0.0], [1.0], [2.0]]])
    per = cka_by_layer(x, torch.tensor([[[0.0], [1.0], [4.0]]]), n_shuffles=2)
    stacked = pd.concat([per.assign(target="jav"), per.assign(target="ace", cka=0.5)], ignore_index=True)
    fig = cka_plot(stacked)
    assert [t.name for t in fig.data] == ["jav", "jav (shuffled)", "ace", "ace (shuffled)"]
    assert list(fig.data[0].y) == pytest.approx([12 / 13]) and list(fig.data[2].y) == [0.5]
    assert fig.data[1].line.dash == "dot" and fig.data[1].line.color == fig.data[0].line.color
    single = cka_plot(per)  # one table without a target column
    assert [t.name for t in single.data] == ["cka", "cka (shuffled)"]
