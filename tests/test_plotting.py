"""The one chart style: applied to the figures built inside it, never to Matplotlib's globals."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

from tailguard import plotting


def test_importing_the_chart_modules_sets_no_global_style() -> None:
    """A fresh process importing every module that draws charts keeps Matplotlib's defaults."""
    code = (
        "import matplotlib\n"
        "before = dict(matplotlib.rcParams)\n"
        "import tailguard.plotting, tailguard.demo.charts, tailguard.weekly.plots\n"
        "print(sorted(k for k, v in matplotlib.rcParams.items() if before[k] != v))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_style_holds_inside_its_block_only() -> None:
    """Inside: the palette, the grid and the font size asked for; after: what was there."""
    before = dict(matplotlib.rcParams)
    with plotting.style(font_size=7.5):
        fig = plotting.agg_figure(2.0, 1.0)
        ax = fig.subplots()
        (line,) = ax.plot([0, 1], [1, 2])
        assert line.get_color() == plotting.PALETTE[0]
        assert ax.xaxis.label.get_fontsize() == 7.5
        assert not ax.spines["top"].get_visible()
    assert dict(matplotlib.rcParams) == before


def test_an_svg_element_is_inline_labelled_and_escaped() -> None:
    """No XML prolog, an accessible name that cannot inject markup, text kept as text."""
    with plotting.style():
        fig = plotting.agg_figure(2.0, 1.0)
        fig.subplots().set_title("P10 <NPS>")
        svg = plotting.svg_element(fig, "t", 'share "inside" <b>')
    assert svg.startswith('<svg role="img" aria-label="share &#34;inside&#34; &lt;b&gt;" ')
    assert "<?xml" not in svg
    assert "P10 &lt;NPS&gt;" in svg  # a text element, not glyph paths
