"""The dashboard pages' charts: lines over days, stacked bars, a sparkline, as inline SVG.

Drawn in the project's one chart style (:mod:`tailguard.plotting`: Matplotlib's object API,
styled inside its ``style()`` block, nothing global touched) and inlined in the page as an
``<svg>`` element whose text stays text (every name Matplotlib writes is escaped). None of these
pages updates a chart live, so none draws SVG by hand. Colours follow one fixed palette so a
role keeps its colour from chart to chart, and a run status its meaning.

Sizes are CSS pixels: a figure of ``width`` x ``height`` px (96 to the inch) shows at that size
(the line and bar charts then scale to the page's width).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter

from tailguard.plotting import PALETTE, style, svg_element

__all__ = ["MEANING", "PALETTE", "colour", "line_chart", "sparkline", "stacked_bars"]

#: Fixed colours for series that carry a meaning (run statuses).
MEANING: Final = {
    "completed": "#009e73",
    "failed": "#d55e00",
    "aborted": "#e69f00",
    "running": "#f0e442",
    "waiting_approval": "#56b4e9",
}
#: CSS pixels per inch (a figure's inches times this is its size on the page).
_PX: Final = 96.0
#: The guard-band bound of a sparkline.
_BOUND: Final = "#d55e00"


def colour(i: int, name: str | None = None) -> str:
    """The colour of series ``i`` (a status keeps its own colour)."""
    if name is not None and name in MEANING:
        return MEANING[name]
    return PALETTE[i % len(PALETTE)]


def _every(n: int, width: int) -> int:
    """Label every k-th x position so labels (about 48 px each) do not collide."""
    fits = max(1, width // 56)
    return max(1, math.ceil(n / fits))


def _nice_max(value: float) -> float:
    """The top of the y axis: four gridlines of a round step that covers ``value``."""
    return 4.0 * _nice_step(value / 4.0)


def _nice_step(value: float) -> float:
    if value <= 0 or not math.isfinite(value):
        return 0.25
    exp = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * exp:
            return float(step * exp)
    return float(10.0 * exp)


def _fmt(value: float, unit: str) -> str:
    if unit == "$":
        return f"${value:,.2f}" if value < 10 else f"${value:,.0f}"
    if abs(value) >= 1000:
        return f"{value:,.0f}{unit}"
    return f"{value:g}{unit}"


def _axes(
    fig: Figure, labels: Sequence[str], *, ymax: float, unit: str, width: int
) -> tuple[Axes, np.ndarray]:
    """One plot with four round gridlines up to ``ymax`` and every k-th x label."""
    ax = fig.subplots()
    xs = np.arange(len(labels), dtype=float)
    ax.set_xlim(-0.5, max(len(labels), 1) - 0.5)
    ax.set_ylim(0.0, ymax)
    ax.yaxis.set_major_locator(FixedLocator([ymax * i / 4 for i in range(5)]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _fmt(v, unit)))
    every = _every(len(labels), width)
    shown = [i for i in range(len(labels)) if i % every == 0 or i == len(labels) - 1]
    ax.set_xticks([xs[i] for i in shown], [labels[i] for i in shown])
    ax.grid(axis="x", visible=False)
    ax.tick_params(length=0)
    return ax, xs


def _chart(fig: Figure, ax: Axes, title: str, names: Sequence[str]) -> Markup:
    """The legend above the plot; the figure as inline SVG named ``title``."""
    if names:
        ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(names), borderaxespad=0.2)
    return svg_element(fig, title, title, css_class="svgplot")


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    unit: str = "",
    ymax: float | None = None,
    width: int = 640,
    height: int = 260,
) -> Markup:
    """One line per series over shared x labels (None values leave a gap)."""
    values = [v for s in series.values() for v in s if v is not None]
    top = ymax if ymax is not None else _nice_max(max(values) if values else 1.0)
    with style():
        fig = Figure(figsize=(width / _PX, height / _PX), layout="constrained")
        ax, xs = _axes(fig, labels, ymax=top, unit=unit, width=width)
        for i, (name, points) in enumerate(series.items()):
            ys = np.array([np.nan if v is None else min(v, top) for v in points], dtype=float)
            ax.plot(
                xs[: len(ys)], ys[: len(xs)], color=colour(i, name), lw=2, marker="o", ms=3.5,
                label=name,
            )  # fmt: skip
        return _chart(fig, ax, title, list(series))


def stacked_bars(
    title: str,
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    unit: str = "",
    width: int = 640,
    height: int = 260,
) -> Markup:
    """Stacked bars, one bar per label, one colour per series."""
    totals = [sum(max(s[i], 0.0) for s in series.values()) for i in range(len(labels))]
    top = _nice_max(max(totals) if totals else 1.0)
    with style():
        fig = Figure(figsize=(width / _PX, height / _PX), layout="constrained")
        ax, xs = _axes(fig, labels, ymax=top, unit=unit, width=width)
        base = np.zeros(len(labels))
        for k, (name, values) in enumerate(series.items()):
            heights = np.clip(np.asarray(values, dtype=float), 0.0, None)
            ax.bar(xs, heights, bottom=base, width=0.7, color=colour(k, name), label=name)
            base += heights
        return _chart(fig, ax, title, list(series))


def sparkline(
    values: Sequence[float | None],
    *,
    bound: float | None = None,
    width: int = 140,
    height: int = 32,
) -> Markup:
    """A tiny line of recent values, with the guard-band bound as a dashed line."""
    points = [v for v in values if v is not None]
    if len(points) < 2:
        return Markup("")
    lo, hi = min(points), max(points)
    if bound is not None:
        lo, hi = min(lo, bound), max(hi, bound)
    pad = ((hi - lo) or 1.0) * 0.1
    with style():
        fig = Figure(figsize=(width / _PX, height / _PX))
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_axis_off()
        xs = np.arange(len(values), dtype=float)
        ys = np.array([np.nan if v is None else v for v in values], dtype=float)
        keep = ~np.isnan(ys)
        ax.set_xlim(-0.5, len(values) - 0.5)
        ax.set_ylim(lo - pad, hi + pad)
        if bound is not None:
            ax.axhline(bound, color=_BOUND, lw=0.75, ls=(0, (3, 3)))
        ax.plot(xs[keep], ys[keep], color=PALETTE[0], lw=1.2)
        fig.patch.set_alpha(0.0)
        return svg_element(fig, "spark", None, css_class="spark")
