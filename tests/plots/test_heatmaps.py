import math

import pandas as pd
import pytest

from circuitlab.heads import HeadSet
from circuitlab.plots import difference_heatmap, head_heatmap, side_by_side


def test_head_heatmap_data_scale_and_hover(table_a):
    fig = head_heatmap(table_a)
    (hm,) = fig.data
    assert list(hm.x) == [0, 1, 2] and list(hm.y) == [0, 1]
    assert [list(r) for r in hm.z] == [[0.5, -0.2, 0.1], [0.9, 0.0, -0.7]]
    assert hm.zmid == 0
    assert hm.colorscale == fig.data[0].colorscale and hm.colorscale[0][1] != hm.colorscale[-1][1]
    ranks = [[c[0] for c in row] for row in hm.customdata]
    assert ranks == [[2, 5, 3], [1, 4, 6]]
    for word in ("layer", "head", "score", "rank"):
        assert word in hm.hovertemplate
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.title.text == "cdt-directional · tiny · ind"
    assert len(fig.layout.shapes) == 0


def test_selected_heads_are_outlined(table_a):
    fig = head_heatmap(table_a, selected=HeadSet.of([(1, 0), (0, 2)]), title="circuit")
    shapes = sorted(fig.layout.shapes, key=lambda s: (s.y0, s.x0))
    assert [(s.type, s.x0, s.x1, s.y0, s.y1) for s in shapes] == [
        ("rect", 1.5, 2.5, -0.5, 0.5),
        ("rect", -0.5, 0.5, 0.5, 1.5),
    ]
    assert all(s.fillcolor == "rgba(0,0,0,0)" and s.line.width > 0 for s in shapes)
    assert fig.layout.title.text == "circuit"


def test_missing_heads_leave_gaps(table_a):
    fig = head_heatmap(table_a[~((table_a["layer"] == 1) & (table_a["head"] == 1))])
    assert fig.data[0].z[1][1] is None


def test_normalise_divides_by_max_abs(table_a):
    z = head_heatmap(table_a, normalise=True).data[0].z
    assert z[1][2] == pytest.approx(-0.7 / 0.9)


def test_side_by_side_shares_a_zero_centred_colour_axis(table_a, table_b):
    sel = HeadSet.of([(0, 1)])
    fig = side_by_side(table_a, table_b, labels=("ind", "jav"), selected=(None, sel))
    assert len(fig.data) == 2
    assert fig.layout.coloraxis.cmid == 0
    assert all(t.coloraxis == "coloraxis" for t in fig.data)
    assert [list(r) for r in fig.data[1].z] == [[0.4, 0.3, -0.1], [0.8, 0.2, -0.5]]
    assert [a.text for a in fig.layout.annotations] == ["ind", "jav"]
    (shape,) = fig.layout.shapes
    assert (shape.xref, shape.x0, shape.y0) == ("x2", 0.5, -0.5)


def test_difference_heatmap(table_a, table_b):
    fig = difference_heatmap(table_a, table_b, labels=("ind", "jav"))
    hm = fig.data[0]
    expected = [[0.1, -0.5, 0.2], [0.1, -0.2, -0.2]]
    for row, exp in zip(hm.z, expected):
        assert list(row) == pytest.approx(exp)
    assert hm.zmid == 0
    assert hm.customdata[0][1] == pytest.approx([-0.2, 0.3])
    assert fig.layout.title.text == "ind − jav"


def test_difference_heatmap_blank_where_one_side_lacks_a_head(table_a, table_b):
    fig = difference_heatmap(table_a, table_b[table_b["layer"] == 0])
    assert fig.data[0].z[1] == (None, None, None) or all(v is None or math.isnan(v) for v in fig.data[0].z[1])


def test_robust_colour_range_clips_an_outlier_but_keeps_values():
    rows = [(l, h, float(v)) for l, row in enumerate([[1.0, -1.0, 0.5], [0.5, 1000.0, 0.0]]) for h, v in enumerate(row)]
    df = pd.DataFrame(rows, columns=["layer", "head", "score"])
    plain = head_heatmap(df)
    assert plain.data[0].zmin is None and not plain.layout.annotations
    fig = head_heatmap(df, robust=0.8)
    hm = fig.data[0]
    # |scores| = [1, 1, .5, .5, 1000, 0]: the 0.8 quantile (linear interpolation) is 1.0
    assert (hm.zmin, hm.zmax) == (-1.0, 1.0)
    assert hm.z[1][1] == 1000.0  # the data are not clipped
    (note,) = fig.layout.annotations
    assert "1 head(s) beyond" in note.text and "±1" in note.text


def test_nan_scores_are_grey_not_white():
    rows = [(0, 0, 1.0), (0, 1, float("nan")), (1, 0, 0.0), (1, 1, -1.0)]
    df = pd.DataFrame(rows, columns=["layer", "head", "score"])
    fig = head_heatmap(df)
    main, missing = fig.data
    assert main.z[0][1] is None and main.z[1][0] == 0.0  # a zero stays a (white) zero
    assert missing.name == "no score" and [list(r) for r in missing.z] == [[None, 1.0], [None, None]]
    assert "1 head(s) without a score" in fig.layout.annotations[0].text
    other = df.assign(score=[0.5, 0.5, 0.5, 0.5])
    diff = difference_heatmap(df, other)
    assert [list(r) for r in diff.data[1].z] == [[None, 1.0], [None, None]]
    sbs = side_by_side(df, other)
    assert [t.name for t in sbs.data] == ["A", "no score", "B"]
