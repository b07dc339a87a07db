"""The pack's figure: one row per KPI, its unit ECDF (this week vs last) and its trend.

Matplotlib (Agg) draws one figure of 13 x 2 axes per area, embedded in the page as a base64
PNG (it opens offline). Every area of a network is drawn on the same scales
(:class:`Scale`, from :func:`network_scales`), which makes packs comparable at a glance and
lets the figure be drawn the way animations are: axes, ticks, labels and the network's
P50 / P90 lines are rendered once per process into a background, and each area only restores
it, draws its own lines and texts on top and encodes the PNG (about 5x faster than drawing
the whole figure per area). The figure is drawn in the project's one chart style
(:mod:`tailguard.plotting`, at a 7.5 pt base font) on an Agg canvas: importing this module, or
drawing a pack, changes no global Matplotlib state.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.ticker import MaxNLocator
from PIL import Image

from tailguard.metrics.kpis import KPI_IDS, KPIS
from tailguard.plotting import agg_figure, style
from tailguard.weekly.pack import Pack

THIS = "#1f5fa8"
LAST = "#9aa3ad"
BENCH = "#c2410c"
DPI = 100
#: The pack's base font size in points (rows of small axes in a PNG).
FONT_SIZE = 7.5
_ROW_IN = 1.45
#: Most points an ECDF or trend line is drawn with (more are invisible at this size).
MAX_POINTS = 160
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, kw_only=True, slots=True)
class Scale:
    """The axes of one KPI's row, shared by every area of the network.

    Attributes:
        x: value range of the unit ECDF.
        y: value range of the trend.
        days: how many days of history the trend shows.
        p50, p90: the network's performance levels (drawn on every trend).
    """

    x: tuple[float, float]
    y: tuple[float, float]
    days: float = 14.0
    p50: float | None = None
    p90: float | None = None


def _range(values: F64, lo_q: float, hi_q: float) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(x) for x in np.quantile(v, [lo_q, hi_q]))
    pad = (hi - lo) * 0.06 or max(abs(hi) * 0.05, 0.5)
    return (lo - pad, hi + pad)


def network_scales(
    units: Mapping[str, F64],
    trends: Mapping[str, F64],
    levels: Mapping[str, tuple[float | None, float | None]],
    days: float,
) -> dict[str, Scale]:
    """Scales from all areas' unit values and trend values per KPI (0.5-99.5 % of the data)."""
    out = {}
    for k in KPI_IDS:
        p50, p90 = levels.get(k, (None, None))
        extra = np.asarray([v for v in (p50, p90) if v is not None], dtype=np.float64)
        trend = np.concatenate([trends.get(k, np.empty(0)), extra])
        out[k] = Scale(
            x=_range(units.get(k, np.empty(0)), 0.005, 0.995),
            y=_range(trend, 0.005, 0.995),
            days=max(7.0, days),
            p50=p50,
            p90=p90,
        )
    return out


def ecdf_points(values: F64) -> tuple[F64, F64]:
    """Step points of the empirical CDF; above MAX_POINTS values, at evenly spaced ranks."""
    if values.size == 0:
        return np.empty(0), np.empty(0)
    xs = np.sort(values)
    n = xs.size
    ranks = np.arange(1, n + 1)
    if n > MAX_POINTS:
        ranks = np.unique(np.linspace(1, n, MAX_POINTS).round().astype(np.int64))
    x = xs[ranks - 1]
    return np.concatenate([[x[0]], x]), np.concatenate([[0.0], ranks / n])


def thin(x: F64, y: F64) -> tuple[F64, F64]:
    """Every k-th point of a time series so that at most MAX_POINTS remain (the last kept)."""
    if x.size <= MAX_POINTS:
        return x, y
    step = -(-x.size // MAX_POINTS)
    keep = np.arange(x.size - 1, -1, -step)[::-1]
    return x[keep], y[keep]


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.1f}"


class PackPlotter:
    """Draws packs on one network's scales; one per process (not thread-safe)."""

    def __init__(self, scales: Mapping[str, Scale]) -> None:
        # The one chart style, applied while the figure is built, never to Matplotlib's globals.
        with style(font_size=FONT_SIZE):
            self._build(scales)

    def _build(self, scales: Mapping[str, Scale]) -> None:
        n = len(KPI_IDS)
        self.fig = agg_figure(8.6, _ROW_IN * n, dpi=DPI)
        self.axes = self.fig.subplots(n, 2, gridspec_kw={"width_ratios": [1.1, 1.0]})
        self.fig.subplots_adjust(
            left=0.06, right=0.985, top=0.985, bottom=0.02, hspace=0.8, wspace=0.14
        )
        self.rows: list[dict[str, Any]] = []
        for i, k in enumerate(KPI_IDS):
            a, b = self.axes[i]
            s = scales[k]
            a.set_xlim(*s.x)
            a.set_ylim(0, 1.04)
            a.set_yticks([0, 0.5, 1.0])
            a.xaxis.set_major_locator(MaxNLocator(nbins=6))
            a.set_xlabel(f"{KPIS[k].unit} per unit", fontsize=6.5, labelpad=1)
            b.set_xlim(-s.days - 0.5, 0.5)
            b.set_ylim(*s.y)
            b.xaxis.set_major_locator(MaxNLocator(nbins=7, integer=True))
            b.yaxis.set_major_locator(MaxNLocator(nbins=3))
            b.set_xlabel("days before the end of the week", fontsize=6.5, labelpad=1)
            if s.p50 is not None:
                b.axhline(s.p50, color=BENCH, lw=0.8, ls=":")
            if s.p90 is not None:
                b.axhline(s.p90, color=BENCH, lw=0.8, ls="--")
            b.text(
                1.0,
                1.06,
                "trend · network P50 ··· P90 - -",
                transform=b.transAxes,
                fontsize=6.5,
                ha="right",
                va="bottom",
                color="#555",
            )
            anim = {"animated": True}
            row = {
                "kpi": k,
                "a": a,
                "b": b,
                "this": a.plot([], [], drawstyle="steps-post", color=THIS, lw=1.4, **anim)[0],
                "last": a.plot([], [], drawstyle="steps-post", color=LAST, lw=1.1, ls="--", **anim)[
                    0
                ],
                "marks": [a.axvline(0, color=THIS, lw=0.8, ls=":", **anim) for _ in range(3)],
                "mlabels": [
                    a.text(
                        0,
                        1.0,
                        f" P{q}",
                        color=THIS,
                        fontsize=6,
                        ha="left",
                        va="top",
                        transform=a.get_xaxis_transform(),
                        **anim,
                    )
                    for q in (10, 50, 90)
                ],
                "title": a.text(
                    0.0, 1.06, "", transform=a.transAxes, fontsize=8, ha="left", va="bottom", **anim
                ),
                "empty_a": a.text(
                    0.5,
                    0.5,
                    "no unit data",
                    ha="center",
                    va="center",
                    color=LAST,
                    transform=a.transAxes,
                    **anim,
                ),
                "trend": b.plot([], [], color=THIS, lw=1.1, **anim)[0],
                "weeks": b.plot([], [], "o", color=THIS, ms=3.5, **anim)[0],
                "empty_b": b.text(
                    0.5,
                    0.5,
                    "no history yet",
                    ha="center",
                    va="center",
                    color=LAST,
                    transform=b.transAxes,
                    **anim,
                ),
            }
            self.rows.append(row)
        a0 = self.axes[0][0]
        a0.plot([], [], color=THIS, lw=1.4, label="this week")
        a0.plot([], [], color=LAST, lw=1.1, ls="--", label="last week")
        a0.legend(loc="lower right", fontsize=6, frameon=False)
        self.fig.canvas.draw()
        self.background = self.fig.canvas.copy_from_bbox(self.fig.bbox)  # type: ignore[attr-defined]

    def png(self, pack: Pack) -> bytes:
        """The pack's figure as PNG bytes."""
        return _encode(self._image(pack))

    def png_strips(self, pack: Pack, *, rows: int = 3) -> list[bytes]:
        """The pack's figure cut between KPI rows into strips of ``rows`` rows (PNG bytes).

        A printed page breaks between strips, never through a chart: the whole figure is
        taller than an A4 page.
        """
        image = self._image(pack)
        width, height = image.size
        # Cut halfway between one row's axes and the next (the gap holds the x label above
        # and the title below), in pixels from the top.
        boxes = [self.axes[i][0].get_position() for i in range(len(self.axes))]
        cuts = [0]
        for i in range(rows, len(boxes), rows):
            mid = (boxes[i - 1].y0 + boxes[i].y1) / 2.0
            cuts.append(round((1.0 - mid) * height))
        cuts.append(height)
        return [
            _encode(image.crop((0, top, width, bottom))) for top, bottom in itertools.pairwise(cuts)
        ]

    def _image(self, pack: Pack) -> Image.Image:
        canvas = self.fig.canvas
        canvas.restore_region(self.background)  # type: ignore[attr-defined]
        for row, panel in zip(self.rows, pack.panels, strict=True):
            k = KPIS[panel.kpi_id]
            a, b = row["a"], row["b"]
            drawn_a = []
            for line, arr in ((row["last"], panel.last), (row["this"], panel.this)):
                line.set_data(*ecdf_points(arr))
                drawn_a.append(line)
            marks = panel.marks("this")
            for q, vline, label in zip((10, 50, 90), row["marks"], row["mlabels"], strict=True):
                v = marks[f"p{q}"]
                if v is not None:
                    vline.set_xdata([v, v])
                    label.set_x(v)
                    drawn_a += [vline, label]
            if not (panel.this.size or panel.last.size):
                drawn_a.append(row["empty_a"])
            drift = panel.drift.get("level", "none")
            title = row["title"]
            title.set_text(
                f"{k.title}: {_fmt(panel.value)} {k.unit} (last week {_fmt(panel.last_value)})"
                f" · per {panel.unit_kind} · drift {drift}"
            )
            title.set_color("#b91c1c" if drift == "major" else "#111")
            drawn_a.append(title)
            for art in drawn_a:
                a.draw_artist(art)
            row["trend"].set_data(*thin(panel.trend_x, panel.trend_y))
            row["weeks"].set_data(panel.week_x, panel.week_y)
            b.draw_artist(row["trend"])
            b.draw_artist(row["weeks"])
            if not (panel.trend_x.size or panel.week_x.size):
                b.draw_artist(row["empty_b"])
        width, height = canvas.get_width_height()
        return Image.frombuffer(
            "RGBA",
            (width, height),
            canvas.buffer_rgba(),  # type: ignore[attr-defined]
            "raw",
            "RGBA",
            0,
            1,
        ).copy()

    def close(self) -> None:
        """Free the figure's artists (no pyplot registry holds it)."""
        self.fig.clear()
        self.rows = []


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # A 128-colour palette keeps the antialiased lines and makes the PNG a third of the
    # size: faster to encode, to embed and, above all, for Chromium to print.
    palette = image.convert("RGB").quantize(colors=128, method=Image.Quantize.FASTOCTREE)
    palette.save(out, format="PNG", compress_level=3)
    return out.getvalue()
