"""The one chart style of the project: Matplotlib's object API, one palette, one look.

Every chart drawn on the server is a :class:`~matplotlib.figure.Figure` built inside
:func:`style` (no pyplot, no GUI backend, no global figure registry) and rendered by
:func:`svg_element` (inline ``<svg>`` in a page or report, text kept as text so the page's
fonts apply) or on an Agg canvas (:func:`agg_figure`, the weekly pack's PNG). The style is
applied while a figure is built, never to Matplotlib's globals: importing this module, or any
module drawing with it, leaves ``matplotlib.rcParams`` as it was. Hand-drawn SVG is left only
to pages that update a chart live.

The demo report (:mod:`tailguard.demo.charts`) and the weekly pack
(:mod:`tailguard.weekly.plots`) draw with it; they differ only in the base font size (a
report's 9 pt SVG, a pack's 7.5 pt PNG rows).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import matplotlib
from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Okabe-Ito colours (safe for the common colour-vision deficiencies), in the order series
#: take them.
PALETTE: Final = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
#: Lines that are no series: grid, axes, secondary text.
GRID: Final = "#e4e4e4"
AXES: Final = "#888888"
#: The base font size of a chart in points (an SVG in a page or report).
FONT_SIZE: Final = 9.0
_SVG_METADATA: Final = ("Date", "Creator", "Format", "Type")


def rc(font_size: float = FONT_SIZE) -> dict[str, Any]:
    """The style as Matplotlib rc settings, for a base font of ``font_size`` points."""
    return {
        "svg.fonttype": "none",  # text stays text: smaller, selectable, styled by the page
        "font.family": "sans-serif",
        "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
        "font.size": font_size,
        "axes.axisbelow": True,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "axes.prop_cycle": f"cycler(color={list(PALETTE)!r})",  # (parsed by Matplotlib)
        "grid.color": GRID,
        "grid.linewidth": 0.6,
        "axes.edgecolor": AXES,
        "axes.titlesize": font_size,
        "axes.titleweight": "bold",
        "legend.frameon": False,
        "legend.fontsize": font_size - 1.0,
        "text.parse_math": False,  # labels are data (a "$5 to $10" is no formula)
    }


@contextmanager
def style(font_size: float = FONT_SIZE) -> Iterator[None]:
    """The style for the figures built (and rendered) inside the block; globals untouched."""
    with matplotlib.rc_context(rc(font_size)):  # type: ignore[arg-type]
        yield


def agg_figure(width: float, height: float, *, dpi: float = 100) -> Figure:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas (for PNG and blitting)."""
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def svg_element(
    fig: Figure, name: str, label: str | None, *, css_class: str | None = None
) -> Markup:
    """The figure as an inline ``<svg>`` element: no prolog, no per-group ids, unique refs.

    ``name`` salts the ids Matplotlib gives clip paths and markers (one name per chart of a
    page); ``label`` is the element's accessible name (None: decorative, hidden from assistive
    technology); ``css_class`` the element's class.
    """
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", metadata=dict.fromkeys(_SVG_METADATA))
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'<g id="[^"]*"', "<g", text)
    attrs = (
        'aria-hidden="true"' if label is None else f'role="img" aria-label="{Markup.escape(label)}"'
    )
    if css_class is not None:
        attrs = f'class="{Markup.escape(css_class)}" {attrs}'
    text = text.replace("<svg ", f"<svg {attrs} ", 1)
    return Markup(text)
