"""The pack's figure: one row per KPI, its unit ECDF (this week vs last) and its trend.

Matplotlib (Agg) draws one figure of 13 x 2 axes per area, saved as SVG text that the page
inlines (it opens offline). Drawing dominates rendering time, so a :class:`PackPlotter` builds
the figure and its artists once and, for each area, only moves their data and saves: several
times faster than building a figure per area.
"""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["svg.hashsalt"] = "tailguard-weekly"
matplotlib.rcParams["font.size"] = 7.5
matplotlib.rcParams["axes.titlesize"] = 8
matplotlib.rcParams["axes.spines.top"] = False
matplotlib.rcParams["axes.spines.right"] = False

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from tailguard.metrics.kpis import KPI_IDS, KPIS  # noqa: E402
from tailguard.weekly.pack import Pack  # noqa: E402

THIS = "#1f5fa8"
LAST = "#9aa3ad"
BENCH = "#c2410c"
_ROW_IN = 1.45


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.1f}"


class PackPlotter:
    """Draws packs into one reused figure; not thread-safe, one per process."""

    def __init__(self) -> None:
        n = len(KPI_IDS)
        self.fig, self.axes = plt.subplots(
            n, 2, figsize=(8.6, _ROW_IN * n), gridspec_kw={"width_ratios": [1.1, 1.0]}
        )
        self.fig.subplots_adjust(
            left=0.07, right=0.98, top=0.985, bottom=0.02, hspace=0.75, wspace=0.14
        )
        self.rows: list[dict[str, Any]] = []
        for i, k in enumerate(KPI_IDS):
            a, b = self.axes[i]
            this = a.plot([], [], drawstyle="steps-post", color=THIS, lw=1.4, label="this week")[0]
            last = a.plot(
                [], [], drawstyle="steps-post", color=LAST, lw=1.1, ls="--", label="last week"
            )[0]
            marks = [a.axvline(0, color=THIS, lw=0.8, ls=":", visible=False) for _ in range(3)]
            mlabels = [
                a.text(
                    0,
                    0.97,
                    f"P{q}",
                    color=THIS,
                    fontsize=6,
                    ha="left",
                    va="top",
                    transform=a.get_xaxis_transform(),
                    visible=False,
                )
                for q in (10, 50, 90)
            ]
            empty_a = a.text(
                0.5,
                0.5,
                "no unit data",
                ha="center",
                va="center",
                color=LAST,
                transform=a.transAxes,
                visible=False,
            )
            # Plain texts at fixed places instead of axes titles and labels: Matplotlib
            # re-lays out titles and axis labels on every save, which was a third of the time.
            title = a.text(0.0, 1.06, "", transform=a.transAxes, fontsize=8, ha="left", va="bottom")
            a.set_ylim(0, 1.0)
            a.set_yticks([0, 0.5, 1.0])
            a.xaxis.set_major_locator(MaxNLocator(nbins=5))
            b.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
            b.yaxis.set_major_locator(MaxNLocator(nbins=3))
            trend = b.plot([], [], color=THIS, lw=1.1)[0]
            weeks = b.plot([], [], "o", color=THIS, ms=3.5)[0]
            p50 = b.axhline(0, color=BENCH, lw=0.8, ls=":", visible=False)
            p90 = b.axhline(0, color=BENCH, lw=0.8, ls="--", visible=False)
            empty_b = b.text(
                0.5,
                0.5,
                "no history yet",
                ha="center",
                va="center",
                color=LAST,
                transform=b.transAxes,
                visible=False,
            )
            b.text(
                1.0,
                1.06,
                "trend, days to as_of",
                transform=b.transAxes,
                fontsize=6.5,
                ha="right",
                va="bottom",
                color="#555",
            )
            self.rows.append(
                {
                    "kpi": k,
                    "a": a,
                    "b": b,
                    "this": this,
                    "last": last,
                    "marks": marks,
                    "title": title,
                    "mlabels": mlabels,
                    "empty_a": empty_a,
                    "trend": trend,
                    "weeks": weeks,
                    "p50": p50,
                    "p90": p90,
                    "empty_b": empty_b,
                }
            )
        self.axes[0][0].legend(loc="lower right", fontsize=6, frameon=False)

    def svg(self, pack: Pack) -> str:
        """The pack's figure as SVG text (without the XML prolog)."""
        for row, panel in zip(self.rows, pack.panels, strict=True):
            k = KPIS[panel.kpi_id]
            a, b = row["a"], row["b"]
            for line, arr in ((row["this"], panel.this), (row["last"], panel.last)):
                if arr.size:
                    xs = np.sort(arr)
                    line.set_data(
                        np.concatenate([[xs[0]], xs]), np.arange(0, xs.size + 1) / xs.size
                    )
                else:
                    line.set_data([], [])
            marks = panel.marks("this")
            for q, vline, label in zip((10, 50, 90), row["marks"], row["mlabels"], strict=True):
                v = marks[f"p{q}"]
                vline.set_visible(v is not None)
                label.set_visible(v is not None)
                if v is not None:
                    vline.set_xdata([v, v])
                    label.set_x(v)
            has_a = bool(panel.this.size or panel.last.size)
            row["empty_a"].set_visible(not has_a)
            if has_a:
                both = np.concatenate([panel.this, panel.last])
                lo, hi = float(both.min()), float(both.max())
                pad = (hi - lo) * 0.04 or max(abs(hi) * 0.05, 0.5)
                a.set_xlim(lo - pad, hi + pad)
            else:
                a.set_xlim(0, 1)
            drift = panel.drift.get("level", "none")
            row["title"].set_text(
                f"{k.title}: {_fmt(panel.value)} {k.unit} (last week {_fmt(panel.last_value)})"
                f" · {k.unit} per {panel.unit_kind} · drift {drift}"
            )
            row["title"].set_color("#b91c1c" if drift == "major" else "#111")
            row["trend"].set_data(panel.trend_x, panel.trend_y)
            row["weeks"].set_data(panel.week_x, panel.week_y)
            for key in ("p50", "p90"):
                v = panel.bench.get(key)
                row[key].set_visible(v is not None)
                if v is not None:
                    row[key].set_ydata([v, v])
            ys = np.concatenate(
                [
                    panel.trend_y,
                    panel.week_y,
                    [v for v in (panel.bench.get("p50"), panel.bench.get("p90")) if v is not None],
                ]
            ).astype(np.float64)
            ys = ys[np.isfinite(ys)]
            xs = np.concatenate([panel.trend_x, panel.week_x])
            has_b = bool(panel.trend_x.size or panel.week_x.size)
            row["empty_b"].set_visible(not has_b)
            if has_b and ys.size:
                lo, hi = float(ys.min()), float(ys.max())
                pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 0.5)
                b.set_ylim(lo - pad, hi + pad)
                b.set_xlim(min(float(xs.min()), -7.0) - 0.5, 0.5)
            else:
                b.set_xlim(-7.5, 0.5)
                b.set_ylim(0, 1)
        buf = io.StringIO()
        self.fig.savefig(buf, format="svg")
        text = buf.getvalue()
        return text[text.index("<svg") :]

    def close(self) -> None:
        """Free the figure."""
        plt.close(self.fig)
