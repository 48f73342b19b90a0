import os
import re
import shutil

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from circuitlab.plots import FigureExportError, save_figure


def small_figure() -> go.Figure:
    return go.Figure(go.Scatter(x=[0, 1, 2], y=[1, 3, 2]), layout=dict(width=320, height=240))


def test_html_only_embeds_plotlyjs_and_skips_kaleido(tmp_path, monkeypatch):
    def no_kaleido(*args, **kwargs):
        raise AssertionError("HTML export must not start Kaleido")

    monkeypatch.setattr(pio, "write_images", no_kaleido)
    (path,) = save_figure(small_figure(), tmp_path / "nested" / "fig", formats=("html",))
    assert path == tmp_path / "nested" / "fig.html"
    text = path.read_text(encoding="utf-8")
    # plotly.js inlined (megabytes), no external <script src=...>: the file works offline
    assert len(text) > 1_000_000 and not re.search(r"<script[^>]*\bsrc=", text)


def test_missing_chromium_gives_install_hint(tmp_path, monkeypatch):
    def chrome_missing(*args, **kwargs):
        raise RuntimeError("Kaleido v1 requires Chrome to be installed.")

    monkeypatch.setattr(pio, "write_images", chrome_missing)
    with pytest.raises(FigureExportError, match="apt-get install -y chromium"):
        save_figure(small_figure(), tmp_path / "fig", formats=("png",))


def test_unknown_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match="tiff"):
        save_figure(small_figure(), tmp_path / "fig", formats=("tiff",))


def _has_browser() -> bool:
    names = ("chromium", "chromium-browser", "google-chrome", "chrome")
    return bool(os.environ.get("BROWSER_PATH")) or any(shutil.which(n) for n in names)


@pytest.mark.skipif(not _has_browser(), reason="no Chromium for Kaleido: apt-get install -y chromium")
def test_writes_every_format(tmp_path):
    paths = save_figure(small_figure(), tmp_path / "fig.v1", scale=1)
    assert [p.name for p in paths] == ["fig.v1.html", "fig.v1.png", "fig.v1.svg", "fig.v1.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)
    assert paths[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in paths[2].read_bytes()[:500]
    assert paths[3].read_bytes()[:5] == b"%PDF-"
