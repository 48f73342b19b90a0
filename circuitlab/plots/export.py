"""Write a figure as interactive HTML and as static images.

HTML embeds plotly.js, so the file opens offline. Static formats go through
Kaleido 1.x, which drives a headless Chromium; all static formats are written in
one Kaleido call so the browser starts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from circuitlab.errors import UserError

STATIC_FORMATS = ("png", "svg", "pdf", "jpeg", "webp")
CHROMIUM_HINT = (
    "Static export needs Kaleido >= 1 (`pip install 'kaleido>=1'`) and a Chromium it can find: "
    "install one with `apt-get install -y chromium` (or run `plotly_get_chrome`), or set BROWSER_PATH to it. "
    "HTML export works without either: pass formats=('html',)."
)


class FigureExportError(RuntimeError):
    """Static export failed, usually because Kaleido or Chromium is missing."""


def _target(path_stem: Path, fmt: str) -> Path:
    return path_stem.with_name(f"{path_stem.name}.{fmt}")


def save_figure(
    fig: go.Figure,
    path_stem: str | Path,
    formats: Sequence[str] = ("html", "png", "svg", "pdf"),
    scale: float = 2.0,
    width: int | None = None,
    height: int | None = None,
) -> list[Path]:
    """Write ``fig`` to ``<path_stem>.<fmt>`` for each format; return the written paths.

    Parent folders are created. ``scale`` multiplies the raster resolution;
    ``width``/``height`` (layout pixels) default to the figure's own or Plotly's.
    Raises :class:`FigureExportError` with install instructions if Kaleido or
    Chromium is missing.
    """
    formats = [f.lower().lstrip(".") for f in formats]
    unknown = [f for f in formats if f != "html" and f not in STATIC_FORMATS]
    if unknown:
        raise UserError(f"Unknown format(s) {unknown}; choose from {('html', *STATIC_FORMATS)}.")
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "html" in formats:
        path = _target(stem, "html")
        fig.write_html(path, include_plotlyjs=True, full_html=True)
        written.append(path)
    static = [f for f in dict.fromkeys(formats) if f != "html"]
    if static:
        paths = [_target(stem, f) for f in static]
        try:
            import kaleido  # noqa: F401  (fail early with our message, not Plotly's)

            pio.write_images(
                [fig] * len(paths), paths, format=static, scale=scale, width=width, height=height
            )
        except (ImportError, OSError, RuntimeError) as exc:  # Chrome not found / failed to start are RuntimeErrors
            raise FigureExportError(f"Could not write {', '.join(static)} for {stem}: {exc!s}\n{CHROMIUM_HINT}") from exc
        empty = [p for p in paths if not p.is_file() or p.stat().st_size == 0]
        if empty:
            raise FigureExportError(f"Kaleido returned without writing {empty}. {CHROMIUM_HINT}")
        written.extend(paths)
    return _ordered(written, formats)


def _ordered(paths: list[Path], formats: Sequence[str]) -> list[Path]:
    """The written paths in the order the formats were asked for (duplicates once)."""
    by_fmt = {p.suffix.lstrip("."): p for p in paths}
    return [by_fmt[f] for f in dict.fromkeys(formats)]
