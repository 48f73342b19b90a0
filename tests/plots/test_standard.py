import pandas as pd
import pytest

from circuitlab.plots import standard_figures
from circuitlab.plots.standard import slug


def rows(grid, **meta):
    return [dict(layer=l, head=h, score=float(s), **meta) for l, r in enumerate(grid) for h, s in enumerate(r)]


def test_seeds_are_averaged_and_recorded():
    scores = pd.DataFrame(rows([[1.0, 0.0]], model="m", method="d", language="ind", seed=0)
                          + rows([[3.0, -2.0]], model="m", method="d", language="ind", seed=1))
    figs = standard_figures(scores, k=1)
    (name,) = figs.figures
    assert name == "heatmap__m__d__ind"
    assert [list(r) for r in figs.figures[name].data[0].z] == [[2.0, -1.0]]
    assert figs.notes[name]["averaged"] == {"rows_per_head": 2, "varying": ["seed"]}
    assert [s.name for s in figs.figures[name].layout.shapes] == ["L0H0"]
    assert "one language only" in figs.skipped["overlap_matrix__m__d"]


def test_two_models_are_aligned_by_relative_depth():
    scores = pd.DataFrame(rows([[1.0], [2.0], [3.0], [4.0]], model="deep", method="d", language="ind")
                          + rows([[5.0, 0.0], [1.0, 0.0]], model="shallow", method="d", language="ind"))
    figs = standard_figures(scores, k=1, k_bins=1)
    note = figs.notes["models__d__ind__deep_vs_shallow"]
    assert note["alignment"]["n_bins"] == 2  # the smaller model's layer count
    assert note["spearman"] == pytest.approx(-1.0) and note["jaccard"] == 0.0


def test_nothing_to_plot_and_slugs():
    with pytest.raises(ValueError, match="Nothing to plot"):
        standard_figures()
    assert slug("heatmap", "org/model name", "ind") == "heatmap__org-model-name__ind"


def test_cka_table_alone_gives_the_cka_figure():
    cka = pd.DataFrame({"target": ["jav", "jav", "ace", "ace"], "layer": [0, 1, 0, 1], "cka": [0.9, 0.5, 0.8, 0.4],
                        "cka_shuffled": [0.1, 0.1, 0.1, 0.1]})
    figs = standard_figures(cka=cka)
    assert list(figs.figures) == ["cka_by_layer"] and figs.notes["cka_by_layer"]["targets"] == ["ace", "jav"]
    assert list(figs.figures["cka_by_layer"].data[0].y) == [0.9, 0.5]


def test_an_extreme_head_clips_the_heatmap_colour_range():
    grid = [[0.1 * (i + 1) for i in range(4)] for _ in range(3)]
    grid[2][3] = 500.0
    figs = standard_figures(pd.DataFrame(rows(grid, model="m", method="d", language="ind")), k=2)
    note = figs.notes["heatmap__m__d__ind"]
    assert note["colour_range_clipped"] is True and [2, 3] in note["top"]
    assert figs.figures["heatmap__m__d__ind"].data[0].zmax == pytest.approx(0.4)  # the largest ordinary |score|


def test_one_folder_spelled_two_ways_is_one_model(tmp_path, monkeypatch):
    ckpt = tmp_path / "runs" / "theta1"
    ckpt.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    scores = pd.DataFrame(rows([[1.0, 0.0]], model="runs/theta1", method="d", language="jav")
                          + rows([[0.0, 1.0]], model=str(ckpt), method="d", language="ind"))
    figs = standard_figures(scores, k=1)
    overlap = [n for n in figs.figures if n.startswith("overlap_matrix")]
    assert len(overlap) == 1 and not [s for s in figs.skipped if s.startswith("overlap_matrix")]
    assert figs.notes[overlap[0]]["title"].endswith("· d · theta1")  # a folder is titled by its own name


def test_methods_without_heads_join_every_k_as_references(results):
    full = results[results["method"] == "circuit"].assign(method="full", k=float("nan"), target_acc=0.7)
    figs = standard_figures(results=pd.concat([results.assign(k=4.0), full], ignore_index=True))
    names = set(figs.figures)
    assert {"forgetting_vs_gain__shots25", "forgetting_vs_gain__shots100", "accuracy_vs_shots"} <= names
    assert not [n for n in names if "nan" in n]
    assert {t.name for t in figs.figures["forgetting_vs_gain__shots25"].data} == {"circuit", "nearzero", "full"}
    assert "full" in {t.name for t in figs.figures["accuracy_vs_shots"].data}


def test_references_follow_their_own_settings_across_two_ks(results):
    headed = pd.concat([results.assign(k=4.0), results.assign(k=8.0, target_acc=results["target_acc"] + 0.1)])
    full = results[results["method"] == "circuit"].assign(method="full", k=float("nan"), target_acc=0.7)
    odd = full[full["shots"] == 25].assign(shots=50)  # a shot count no headed method has
    figs = standard_figures(results=pd.concat([headed, full, odd], ignore_index=True))
    names = {n for n in figs.figures if n.startswith("forgetting_vs_gain")}
    assert names == {f"forgetting_vs_gain__k{k}__shots{n}" for k in (4, 8) for n in (25, 100)} | {
        "forgetting_vs_gain__shots50"}
    for name in names - {"forgetting_vs_gain__shots50"}:
        assert "full" in {t.name for t in figs.figures[name].data}
    assert {t.name for t in figs.figures["forgetting_vs_gain__shots50"].data} == {"full"}


def test_a0_from_results_ignores_the_base_model_cells_of_direct(results):
    cells = results.assign(start="proxy", target_acc_before=0.4, proxy_acc_before=0.8)
    direct = cells[cells["method"] == "circuit"].assign(method="direct", start="base", target_acc_before=0.9)
    figs = standard_figures(results=pd.concat([cells, direct], ignore_index=True), measures=["a0"])
    table = figs.notes["tradeoff__a0__shots100"]["table"]
    assert [row["a0"] for row in table] == pytest.approx([0.4, 0.4])  # both targets; direct said 0.9


def test_figures_from_fake_backend_rows_say_so_in_their_titles(results):
    scores = pd.DataFrame(rows([[1.0, 0.0]], model="m", method="d", language="ind"))  # real: no backend column
    figs = standard_figures(scores, results.assign(backend="fake"), k=1)
    score_names = {n for n in figs.figures if n.startswith("heatmap")}
    assert score_names and len(figs.figures) > len(score_names)
    for name, fig in figs.figures.items():
        fake = name not in score_names
        assert fig.layout.title.text.startswith("FAKE BACKEND · ") == fake, name
        assert figs.notes[name]["title"] == fig.layout.title.text
        assert figs.notes[name].get("fake_rows") == (len(results) if fake else None)
    real = standard_figures(scores, results.assign(backend="ctsft"), k=1)
    assert not [f for f in real.figures.values() if "FAKE" in (f.layout.title.text or "")]
