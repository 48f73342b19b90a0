import pytest

from circuitlab.analysis import align_by_depth, compare_models, depth_bin
from circuitlab.models.geometry import ModelGeometry


def geometry(name: str, n_layers: int, n_heads: int) -> ModelGeometry:
    return ModelGeometry(name=name, family="tiny", n_layers=n_layers, n_heads=n_heads, n_kv_heads=1,
                         d_head=4, d_model=4 * n_heads, norm_type="rmsnorm", vocab_size=10)


@pytest.mark.parametrize(
    "n_layers, n_bins, expected",
    [(4, 2, [0, 0, 1, 1]), (3, 2, [0, 1, 1]), (5, 5, [0, 1, 2, 3, 4]),
     (18, 4, [0] * 4 + [1] * 5 + [2] * 4 + [3] * 5)],
)
def test_depth_bin_uses_layer_midpoints(n_layers, n_bins, expected):
    assert [int(depth_bin(l, n_layers, n_bins)) for l in range(n_layers)] == expected


def test_align_by_depth_max_and_mean(table_a):
    mx = align_by_depth(table_a, n_layers=2, n_bins=2, reduce="max")
    assert mx["bin"].tolist() == [0, 1]
    assert mx["score"].tolist() == pytest.approx([0.5, 0.9])
    assert mx["n_heads"].tolist() == [3, 3]
    mean = align_by_depth(table_a, n_layers=2, n_bins=2, reduce="mean")
    assert mean["score"].tolist() == pytest.approx([0.4 / 3, 0.2 / 3])
    absmax = align_by_depth(table_a, n_layers=2, n_bins=2, reduce="absmax")
    assert absmax["score"].tolist() == pytest.approx([0.5, 0.9])
    one = align_by_depth(table_a, n_layers=2, n_bins=1, reduce="sum")
    assert one["score"].tolist() == pytest.approx([0.6])
    assert (one["layer_min"].item(), one["layer_max"].item()) == (0, 1)


def test_align_by_depth_rejects_bad_arguments(table_a):
    with pytest.raises(ValueError, match="n_bins"):
        align_by_depth(table_a, n_layers=2, n_bins=3)
    with pytest.raises(ValueError, match="reduce"):
        align_by_depth(table_a, n_layers=2, n_bins=2, reduce="min")
    with pytest.raises(ValueError, match="n_layers=1"):
        align_by_depth(table_a, n_layers=1, n_bins=1)


def test_compare_models_on_common_depth_grid(make_scores):
    # model A: 6 layers x 1 head, increasing with depth -> bin maxima [2, 4, 6]
    df_a = make_scores([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]], model="a")
    # model B: 3 layers x 2 heads, decreasing with depth -> bin maxima [3, 2, 1]
    df_b = make_scores([[3.0, 0.0], [2.0, 0.0], [1.0, 0.0]], model="b")
    geom_a, geom_b = geometry("a", 6, 1), geometry("b", 3, 2)
    cmp1 = compare_models(df_a, geom_a, df_b, geom_b, n_bins=3, k=1)
    assert cmp1.spearman == pytest.approx(-1.0)
    assert (cmp1.top_bins_a, cmp1.top_bins_b, cmp1.jaccard) == ((2,), (0,), 0.0)
    cmp2 = compare_models(df_a, geom_a, df_b, geom_b, n_bins=3, k=2)
    assert cmp2.jaccard == pytest.approx(1 / 3)  # {2,1} vs {0,1}
    assert cmp2.aligned[["score_a", "score_b"]].to_numpy().tolist() == [[2, 3], [4, 2], [6, 1]]
    doc = cmp2.alignment
    assert doc["model_a"]["layers_per_bin"] == {0: [0, 1], 1: [2, 3], 2: [4, 5]}
    assert doc["model_b"]["layers_per_bin"] == {0: [0], 1: [1], 2: [2]}
    assert doc["n_bins"] == 3 and doc["reduce"] == "max" and "layer + 0.5" in doc["rule"]


def test_compare_models_checks_geometry(make_scores):
    df = make_scores([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="out of range"):
        compare_models(df, geometry("small", 2, 1), df, geometry("ok", 2, 2), n_bins=2, k=1)
    with pytest.raises(ValueError, match="k must"):
        compare_models(df, geometry("x", 2, 2), df, geometry("y", 2, 2), n_bins=2, k=3)
