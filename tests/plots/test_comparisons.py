import pandas as pd
import pytest

from circuitlab.analysis import overlap_curve, overlap_matrix, spearman_matrix
from circuitlab.plots import overlap_curve_plot, overlap_matrix_plot


def test_overlap_curve_plot_has_band_mean_and_observed(table_a, table_b):
    curve = overlap_curve(table_a, table_b, ks=[1, 2, 3], n_perm=200, seed=0)
    fig = overlap_curve_plot(curve)
    names = [t.name for t in fig.data]
    assert names == ["chance (upper)", "chance band (95%)", "chance mean", "observed"]
    upper, band, mean, observed = fig.data
    assert list(upper.y) == curve["chance_hi"].tolist() and list(band.y) == curve["chance_lo"].tolist()
    assert band.fill == "tonexty"
    assert list(mean.y) == pytest.approx(curve["chance_mean"].tolist())
    assert list(observed.x) == [1, 2, 3] and list(observed.y) == [1.0, 1.0, 0.5]
    assert fig.layout.xaxis.title.text.startswith("k")


def test_overlap_curve_plot_names_missing_columns():
    with pytest.raises(ValueError, match="chance_lo"):
        overlap_curve_plot(pd.DataFrame({"k": [1], "jaccard": [1.0], "chance_mean": [0.1], "chance_hi": [0.2]}))


def test_overlap_matrix_plot_jaccard_and_spearman(table_a, table_b):
    tables = {"ind": table_a, "jav": table_b}
    fig = overlap_matrix_plot(overlap_matrix(tables, k=3))
    hm = fig.data[0]
    assert [list(r) for r in hm.z] == [[1.0, 0.5], [0.5, 1.0]]
    assert list(hm.x) == ["ind", "jav"] and (hm.zmin, hm.zmax) == (0, 1)
    assert hm.texttemplate == "%{z:.2f}"
    assert fig.layout.title.text == "Top-3 Jaccard"
    rho = overlap_matrix_plot(spearman_matrix(tables)).data[0]
    assert (rho.zmin, rho.zmid, rho.zmax) == (-1, 0, 1)
    assert rho.z[0][1] == pytest.approx(27 / 35)
