"""The container of a figure set (figures, what each was made from, what was skipped) and how it is written.

:class:`StandardFigures` collects figures by file-name-safe name (:func:`slug`) with a
note per figure; :func:`save_figures` writes every figure in the asked formats plus a
``figures.json`` manifest (the notes, made JSON-safe) and an ``index.html``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

import plotly.graph_objects as go

from circuitlab.plots.export import save_figure


@dataclass
class StandardFigures:
    """Figures by name, what each was made from, and what could not be drawn.

    Attributes:
        figures: ``{name: Figure}`` in drawing order.
        notes: ``{name: {...}}``: the inputs and parameters behind each figure.
        skipped: ``{what: why}`` for every standard figure that could not be drawn.
    """

    figures: dict[str, go.Figure] = field(default_factory=dict)
    notes: dict[str, dict] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, fig: go.Figure, **note: object) -> None:
        self.figures[name] = fig
        self.notes[name] = {"title": fig.layout.title.text, **note}


def slug(*parts: object) -> str:
    """A file-name-safe name: parts joined by ``__``, each reduced to ``[A-Za-z0-9._-]``."""
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", str(p)).strip("-") or "x" for p in parts)


def _jsonable(x: object) -> object:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):
        try:
            return x.item()
        except (ValueError, TypeError):
            pass
    if isinstance(x, float) and x != x:
        return None
    return x if isinstance(x, (str, int, float, bool, type(None))) else str(x)


def save_figures(figs: StandardFigures, out_dir: str | Path, formats: Sequence[str] = ("html", "png"),
                 sources: Mapping[str, object] | None = None, progress: bool = True) -> Path:
    """Write every figure as ``<out_dir>/<name>.<fmt>``, plus ``figures.json`` and ``index.html``; return the manifest."""
    from tqdm.auto import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[str]] = {}
    for name, fig in tqdm(figs.figures.items(), desc="saving figures", disable=not progress, leave=False):
        files[name] = [p.name for p in save_figure(fig, out / name, formats=formats)]
    manifest = {
        "sources": _jsonable(dict(sources or {})),
        "formats": list(formats),
        "figures": {name: {"files": files[name], **_jsonable(figs.notes[name])} for name in figs.figures},
        "skipped": figs.skipped,
    }
    path = out / "figures.json"
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    items = []
    for name, info in manifest["figures"].items():
        links = " ".join(f'<a href="{escape(f)}">{escape(f.rsplit(".", 1)[-1])}</a>' for f in info["files"])
        png = next((f for f in info["files"] if f.endswith(".png")), None)
        img = f'<br><img src="{escape(png)}" width="480">' if png else ""
        items.append(f"<li><b>{escape(str(info.get('title') or name))}</b> ({links}){img}</li>")
    skipped = "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in figs.skipped.items())
    (out / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>circuitlab figures</title>"
        f"<h1>circuitlab figures</h1><ul>{''.join(items)}</ul>"
        + (f"<h2>Not drawn</h2><ul>{skipped}</ul>" if skipped else ""),
        encoding="utf-8",
    )
    return path


__all__ = ["StandardFigures", "save_figures", "slug"]
