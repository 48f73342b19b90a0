import plotly.graph_objects as go

from circuitlab.plots import DIVERGING, METHOD_COLORS, OKABE_ITO, apply_style, color_map


def test_palette_is_okabe_ito():
    assert OKABE_ITO[:3] == ("#E69F00", "#56B4E9", "#009E73")
    assert DIVERGING == "RdBu_r"


def test_color_map_fixes_known_methods_and_fills_the_rest():
    colors = color_map(["nearzero", "circuit", "lora", "prompt"])
    assert colors["circuit"] == METHOD_COLORS["circuit"] and colors["nearzero"] == METHOD_COLORS["nearzero"]
    assert len(set(colors.values())) == 4
    assert set(colors.values()) <= set(OKABE_ITO)


def test_apply_style_returns_the_figure():
    fig = go.Figure()
    assert apply_style(fig) is fig
    assert tuple(fig.layout.colorway) == OKABE_ITO
    assert fig.layout.template.layout.plot_bgcolor in ("white", "#FFFFFF", "rgb(255,255,255)")
