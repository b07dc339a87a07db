"""Small server-rendered SVG charts: lines over days, stacked bars, a sparkline.

Plain SVG text (no JavaScript, no external library) that the page inlines; every value that
reaches the markup is escaped. Colours follow one fixed palette so a role keeps its colour from
chart to chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

PALETTE = ("#1f4e79", "#e07a5f", "#3d9970", "#8e6cbf", "#c9a227", "#4aa3c7", "#b3261e", "#6b7280")


#: Fixed colours for series that carry a meaning (run statuses).
MEANING = {
    "completed": "#3d9970",
    "failed": "#b3261e",
    "aborted": "#e07a5f",
    "running": "#c9a227",
    "waiting_approval": "#4aa3c7",
}


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


def _frame(
    title: str, width: int, height: int, left: int, top: int, plot_w: int, plot_h: int
) -> list[str]:
    return [
        f'<svg class="svgplot" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff"/>',
    ]


def _y_axis(
    parts: list[str], *, left: int, top: int, plot_w: int, plot_h: int, ymax: float, unit: str
) -> None:
    for i in range(5):
        v = ymax * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#e5e8ee" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#5d6677">{escape(_fmt(v, unit))}</text>'
        )


def _x_labels(
    parts: list[str], labels: Sequence[str], xs: Sequence[float], *, y: float, every: int
) -> None:
    for i, (label, x) in enumerate(zip(labels, xs, strict=True)):
        if i % every == 0 or i == len(labels) - 1:
            parts.append(
                f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" font-size="11" '
                f'fill="#5d6677">{escape(label)}</text>'
            )


def _legend(parts: list[str], names: Sequence[str], *, x: int, y: int) -> None:
    cx = x
    for i, name in enumerate(names):
        parts.append(
            f'<rect x="{cx}" y="{y - 9}" width="10" height="10" rx="2" fill="{colour(i, name)}"/>'
        )
        parts.append(
            f'<text x="{cx + 14}" y="{y}" font-size="12" fill="#1d2330">{escape(name)}</text>'
        )
        cx += 22 + 7 * len(name)


def _close(
    parts: list[str],
    labels: Sequence[str],
    xs: Sequence[float],
    names: Sequence[str],
    *,
    left: int,
    height: int,
    plot_w: int,
) -> Markup:
    """The x labels under the plot and the legend above it; the chart's markup."""
    _x_labels(parts, labels, xs, y=height - 10, every=_every(len(labels), plot_w))
    _legend(parts, names, x=left, y=16)
    parts.append("</svg>")
    return Markup("".join(parts))


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
    left, top, right, bottom = 56, 28, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series.values() for v in s if v is not None]
    top_v = ymax if ymax is not None else _nice_max(max(values) if values else 1.0)
    parts = _frame(title, width, height, left, top, plot_w, plot_h)
    _y_axis(parts, left=left, top=top, plot_w=plot_w, plot_h=plot_h, ymax=top_v, unit=unit)
    n = max(1, len(labels))
    xs = [left + plot_w * (i + 0.5) / n for i in range(len(labels))]
    for i, (name, points) in enumerate(series.items()):
        segments: list[list[str]] = [[]]
        for x, v in zip(xs, points, strict=False):
            if v is None:
                segments.append([])
                continue
            y = top + plot_h - plot_h * min(v, top_v) / top_v
            segments[-1].append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{colour(i, name)}">'
                f"<title>{escape(name)}: {escape(_fmt(round(v, 2), unit))}</title></circle>"
            )
        for seg in segments:
            if len(seg) > 1:
                parts.append(
                    f'<polyline fill="none" stroke="{colour(i, name)}" stroke-width="2" '
                    f'points="{" ".join(seg)}"/>'
                )
    return _close(parts, labels, xs, list(series), left=left, height=height, plot_w=plot_w)


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
    left, top, right, bottom = 56, 28, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s[i] for s in series.values()) for i in range(len(labels))]
    top_v = _nice_max(max(totals) if totals else 1.0)
    parts = _frame(title, width, height, left, top, plot_w, plot_h)
    _y_axis(parts, left=left, top=top, plot_w=plot_w, plot_h=plot_h, ymax=top_v, unit=unit)
    n = max(1, len(labels))
    slot = plot_w / n
    bar_w = max(2.0, slot * 0.7)
    xs = [left + slot * (i + 0.5) for i in range(len(labels))]
    for i, x in enumerate(xs):
        y = float(top + plot_h)
        for k, (name, values) in enumerate(series.items()):
            v = values[i]
            if v <= 0:
                continue
            h = plot_h * v / top_v
            y -= h
            parts.append(
                f'<rect x="{x - bar_w / 2:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{colour(k, name)}"><title>{escape(labels[i])} · {escape(name)}: '
                f"{escape(_fmt(round(v, 4), unit))}</title></rect>"
            )
    return _close(parts, labels, xs, list(series), left=left, height=height, plot_w=plot_w)


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
    span = (hi - lo) or 1.0
    n = len(values)

    def y(v: float) -> float:
        return 3 + (height - 6) * (1 - (v - lo) / span)

    coords = [
        f"{2 + (width - 4) * i / (n - 1):.1f},{y(v):.1f}"
        for i, v in enumerate(values)
        if v is not None
    ]
    parts = [
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'xmlns="http://www.w3.org/2000/svg" aria-hidden="true">'
    ]
    if bound is not None:
        parts.append(
            f'<line x1="0" x2="{width}" y1="{y(bound):.1f}" y2="{y(bound):.1f}" '
            'stroke="#b3261e" stroke-dasharray="3 3" stroke-width="1"/>'
        )
    parts.append(
        f'<polyline fill="none" stroke="#1f4e79" stroke-width="1.6" points="{" ".join(coords)}"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))
