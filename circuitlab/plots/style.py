"""One look for every figure: colour-blind-safe colours and a quiet layout.

- Qualitative colours: the Okabe–Ito palette (distinguishable under the common
  colour-vision deficiencies), with a fixed colour per known method so a method
  keeps its colour across figures.
- Signed values (head scores, differences, rho): ``RdBu_r`` centred at 0
  (blue negative, red positive), a ColorBrewer scale that is colour-blind safe.
- Values in [0, 1] (Jaccard, frequency): ``Viridis``.
"""

from __future__ import annotations

from collections.abc import Iterable

import plotly.graph_objects as go

OKABE_ITO: tuple[str, ...] = (
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#009E73",  # bluish green
    "#F0E442",  # yellow
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#000000",  # black
)
DIVERGING = "RdBu_r"
SEQUENTIAL = "Viridis"
OUTLINE_COLOR = "#000000"
BAND_COLOR = "rgba(128, 128, 128, 0.25)"
FONT = dict(family="Helvetica, Arial, sans-serif", size=13, color="#222222")

#: Fixed colours for the methods of the paper, so they never swap between figures.
METHOD_COLORS: dict[str, str] = {
    "circuit": OKABE_ITO[5],
    "nearzero": OKABE_ITO[4],
    "ctsft-auto": OKABE_ITO[6],
    "full": OKABE_ITO[0],
    "direct": OKABE_ITO[2],
    "random": OKABE_ITO[1],
    "least": OKABE_ITO[7],
}


def color_map(names: Iterable[str]) -> dict[str, str]:
    """A colour per name: the fixed colour of a known method, else the next Okabe–Ito colour not taken."""
    names = list(dict.fromkeys(names))
    taken = {METHOD_COLORS[n] for n in names if n in METHOD_COLORS}
    spare = [c for c in OKABE_ITO if c not in taken] or list(OKABE_ITO)
    unknown = [n for n in names if n not in METHOD_COLORS]
    out = {n: spare[i % len(spare)] for i, n in enumerate(unknown)}
    return {n: METHOD_COLORS.get(n, out.get(n, "")) for n in names}


def apply_style(fig: go.Figure) -> go.Figure:
    """Apply the package style in place (white template, font, Okabe–Ito colourway) and return ``fig``."""
    fig.update_layout(
        template="simple_white",
        font=FONT,
        colorway=list(OKABE_ITO),
        margin=dict(l=60, r=30, t=60, b=55),
        hoverlabel=dict(font_size=12),
        legend=dict(bgcolor="rgba(255,255,255,0.7)"),
        title=dict(x=0.0, xref="paper", xanchor="left"),
    )
    return fig
