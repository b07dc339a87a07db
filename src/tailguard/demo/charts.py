"""The plots of the demo report: Matplotlib figures rendered to inline SVG elements.

Each function takes data already aggregated by :mod:`tailguard.demo.report` (at most hours x
bands points, never one per area-hour) and returns the ``<svg>`` element as markup. Figures use
the project's one chart style (:mod:`tailguard.plotting`: Matplotlib's object API, set by
:func:`style`, a context manager around the whole rendering, and rendered by its
:func:`~tailguard.plotting.svg_element`). Text stays text in the SVG so the page's fonts apply
and sizes scale with the fixed figure widths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import polars as pl
from markupsafe import Markup
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from tailguard.plotting import PALETTE, style, svg_element
from tailguard.rules.guardbands import GuardBand

__all__ = [
    "ARM_COLOURS",
    "ARM_LABELS",
    "DECISION_COLOURS",
    "KIND_COLOURS",
    "STATUS_COLOURS",
    "style",
]

#: Okabe-Ito colours (safe for the common colour-vision deficiencies), one per arm everywhere.
ARM_COLOURS: Final = {"on": PALETTE[0], "off": PALETTE[1]}
ARM_LABELS: Final = {"on": "agents on", "off": "agents off"}
STATUS_COLOURS: Final = {
    "executed": "#009E73",
    "held": "#F0E442",
    "pending_approval": "#56B4E9",
    "rejected": "#D55E00",
    "timeout": "#CC79A7",
    "failed": "#000000",
    "skipped": "#BBBBBB",
}
DECISION_COLOURS: Final = {
    "approved": "#009E73",
    "rejected": "#D55E00",
    "timeout": "#CC79A7",
    "pending": "#999999",
}
KIND_COLOURS: Final = PALETTE
#: Figure widths in inches: full column, and beside a side table; fixed so text scales alike.
_WIDE, _NARROW = 8.4, 6.4


def _number(value: Any) -> float:
    return (
        0.0 if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
    )


def _hours(frame: pl.DataFrame, arm: str, column: str) -> tuple[Any, Any]:
    part = frame.filter(pl.col("arm") == arm)
    return part["hour"].to_numpy(), part[column].cast(pl.Float64).to_numpy()


def _date_axis(ax: Any) -> None:
    locator = AutoDateLocator()  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def band_plot(
    band: GuardBand, per_hour: pl.DataFrame, *, tail_q: float, unit: str
) -> Markup | None:
    """One guard-band KPI over time: median and tail per arm, the bound, the outside shaded.

    ``per_hour`` has ``arm``, ``hour``, ``med:<band id>`` and ``tail:<band id>``. None when the
    KPI has no value in any hour.
    """
    if per_hour[f"med:{band.id}"].drop_nulls().is_empty():
        return None
    fig = Figure(figsize=(_NARROW, 2.6), layout="constrained")
    ax = fig.add_subplot()
    tail = f"P{round(100 * tail_q)}"
    for arm in ("on", "off"):
        x, med = _hours(per_hour, arm, f"med:{band.id}")
        _, tl = _hours(per_hour, arm, f"tail:{band.id}")
        if not len(x):
            continue
        colour, name = ARM_COLOURS[arm], ARM_LABELS[arm]
        ax.plot(x, med, color=colour, lw=1.6, label=f"{name}: median")
        ax.plot(x, tl, color=colour, lw=1.1, ls=(0, (4, 2)), label=f"{name}: {tail}")
    if band.kind == "threshold":
        ax.axhline(
            band.bound,
            color="#555555",
            lw=0.9,
            ls=":",
            label=f"bound {band.inside_op} {band.bound:g}",
        )
        lo, hi = ax.get_ylim()
        lo, hi = min(lo, band.bound), max(hi, band.bound)
        outside = (band.bound, hi) if band.lower_is_better else (lo, band.bound)
        ax.axhspan(*outside, color="#d55e00", alpha=0.06, lw=0, label="outside")
        ax.set_ylim(lo, hi)
    ax.set_ylabel(unit)
    _date_axis(ax)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, handlelength=2.2, fontsize=7.5)
    return svg_element(
        fig, f"band-{band.id}", f"{band.kpi} over time, median and {tail}, on vs off"
    )


def _usd_tick(value: float, _pos: int) -> str:
    return f"${value / 1000:,.0f}k" if abs(value) >= 1000 else f"${value:,.0f}"


def _bar_labels(ax: Any, bars: Any, texts: Sequence[str]) -> None:
    for bar, text in zip(bars, texts, strict=True):
        ax.annotate(
            text,
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7.5,
        )


def share_plot(rows: Sequence[Mapping[str, Any]]) -> Markup:
    """Horizontal bars, on vs off, of the share inside each band.

    Each row has ``label``, ``on`` and ``off`` (percent or None) and ``pass_on``/``pass_off``
    (their printed form, used as bar labels).
    """
    fig = Figure(figsize=(_WIDE, 0.42 * len(rows) + 0.9), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    for offset, arm in ((-0.2, "on"), (0.2, "off")):
        values = [_number(r[arm]) for r in rows]
        bars = ax.barh(
            y + offset, values, height=0.38, color=ARM_COLOURS[arm], label=ARM_LABELS[arm]
        )
        _bar_labels(ax, bars, [str(r[f"pass_{arm}"]) for r in rows])
    ax.set_yticks(y, [r["label"] for r in rows])
    ax.get_yticklabels()[-1].set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlim(0, 112)
    ax.set_xlabel("% of area-hours inside the band (of those with data)")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
    return svg_element(fig, "share", "share of area-hours inside each guard-band, on vs off")


def share_time_plot(per_hour: pl.DataFrame) -> Markup:
    """The share of areas inside every band, hour by hour, per arm (column ``share:all``)."""
    fig = Figure(figsize=(_WIDE, 2.4), layout="constrained")
    ax = fig.add_subplot()
    for arm in ("on", "off"):
        x, v = _hours(per_hour, arm, "share:all")
        if len(x):
            ax.plot(x, v, color=ARM_COLOURS[arm], lw=1.5, label=ARM_LABELS[arm])
    ax.set_ylim(0, 100)
    ax.set_ylabel("% of areas")
    _date_axis(ax)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
    return svg_element(fig, "share-time", "share of areas inside all guard-bands per hour")


def learning_plot(rows: Sequence[Mapping[str, Any]]) -> Markup:
    """The weekly gain (points) of agents on over off with its 95 % interval, and the policy
    version in force at each week's end (rows of ``summary.json``'s ``learning_curve``)."""
    fig = Figure(figsize=(_WIDE, 2.4), layout="constrained")
    ax = fig.add_subplot()
    weeks = [int(r["week"]) for r in rows]
    gain = [_number(r["guardband_gain_points"]) for r in rows]
    lo = [_number((r["ci95"] or [None, None])[0]) for r in rows]
    hi = [_number((r["ci95"] or [None, None])[1]) for r in rows]
    err = np.array([[g - a for g, a in zip(gain, lo, strict=True)],
                    [b - g for g, b in zip(gain, hi, strict=True)]])  # fmt: skip
    ax.errorbar(weeks, gain, yerr=err, fmt="o-", color=ARM_COLOURS["on"], capsize=4, lw=1.5)
    ax.axhline(0.0, color="0.5", lw=1)
    for w, g, r in zip(weeks, gain, rows, strict=True):
        ax.annotate(str(r.get("policy_version") or ""), (w, g), textcoords="offset points",
                    xytext=(6, 6), fontsize=7)  # fmt: skip
    ax.set_xticks(weeks, [f"week {w}" for w in weeks])
    ax.set_ylabel("points inside every band")
    return svg_element(fig, "learning", "weekly gain of agents on over off with 95 % intervals")


def spread_plot(tactic: str, rows: Sequence[Mapping[str, Any]]) -> Markup:
    """Areas using one tactic by week: adopted on their own, and testing it through the crowd
    exchange (rows of ``summary.json``'s ``crowd.spread.areas_by_week``)."""
    fig = Figure(figsize=(_NARROW, 2.2), layout="constrained")
    ax = fig.add_subplot()
    weeks = np.array([int(r["week"]) for r in rows])
    own = np.array([int(r["adopted_areas"]) for r in rows])
    tests = np.array([int(r["testing_areas"]) for r in rows])
    ax.bar(weeks, own, width=0.6, color=KIND_COLOURS[0], label="adopted (published)")
    ax.bar(weeks, tests, width=0.6, bottom=own, color=KIND_COLOURS[1], label="local A/B test")
    ax.set_xticks(weeks, ["warm-up" if w == 0 else f"week {w}" for w in weeks])
    ax.set_ylabel("areas using it")
    ax.grid(axis="x", visible=False)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2)
    return svg_element(fig, "crowd-spread", f"areas using {tactic} by week")


def kinds_plot(
    kinds: Sequence[str], stats: Mapping[str, Mapping[str, Any]], *, cost_labels: Sequence[str]
) -> Markup:
    """Decisions per kind stacked by status, beside the cost per kind.

    ``stats[kind]`` has one count per status and ``cost_usd``; ``cost_labels`` follow ``kinds``.
    """
    kinds = [k for k in kinds if k in stats]
    fig = Figure(figsize=(_WIDE, 0.4 * len(kinds) + 1.2), layout="constrained")
    count_ax, cost_ax = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    y = np.arange(len(kinds))
    left = np.zeros(len(kinds))
    for status, colour in STATUS_COLOURS.items():
        values = np.array([stats[k][status] for k in kinds], dtype=float)
        if values.any():
            count_ax.barh(y, values, left=left, color=colour, height=0.6, label=status)
            left += values
    _bar_labels(
        count_ax, count_ax.barh(y, left, height=0.6, fill=False, lw=0), [f"{v:,.0f}" for v in left]
    )
    count_ax.set_yticks(y, kinds)
    count_ax.invert_yaxis()
    count_ax.set_xlim(0, max(left.max(), 1) * 1.18)
    count_ax.set_title("decisions by status", loc="left")
    fig.legend(loc="outside lower center", ncol=6)
    costs = np.array([stats[k]["cost_usd"] or 0.0 for k in kinds], dtype=float)
    bars = cost_ax.barh(y, costs, color="#0072B2", height=0.6)
    _bar_labels(cost_ax, bars, list(cost_labels))
    cost_ax.set_xlim(0, max(costs.max(), 1.0) * 1.35)
    cost_ax.set_title("cost", loc="left")
    cost_ax.xaxis.set_major_formatter(FuncFormatter(_usd_tick))
    for ax in (count_ax, cost_ax):
        ax.grid(axis="y", visible=False)
    return svg_element(fig, "kinds", "interventions by kind: decisions by status and cost")


def daily_plot(frame: pl.DataFrame) -> Markup:
    """Intervention decisions per day, stacked by kind."""
    daily = (
        frame.group_by(pl.col("decided_at").dt.truncate("1d").alias("day"), "kind")
        .len()
        .pivot(on="kind", index="day", values="len")
        .fill_null(0)
        .sort("day")
    )
    kinds = sorted(c for c in daily.columns if c != "day")
    fig = Figure(figsize=(_WIDE, 2.6), layout="constrained")
    ax = fig.add_subplot()
    days = daily["day"].to_numpy()
    bottom = np.zeros(daily.height)
    for i, kind in enumerate(kinds):
        values = daily[kind].cast(pl.Float64).to_numpy()
        colour = KIND_COLOURS[i % len(KIND_COLOURS)]
        hatch = None if i < len(KIND_COLOURS) else "//"
        ax.bar(days, values, bottom=bottom, width=0.8, color=colour, hatch=hatch, label=kind)
        bottom += values
    ax.set_ylabel("decisions per day")
    _date_axis(ax)
    ax.grid(axis="x", visible=False)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=min(len(kinds), 4))
    return svg_element(fig, "daily", "intervention decisions per day by kind")


def outcomes_plot(
    frame: pl.DataFrame, stats: Mapping[str, Mapping[str, Any]], *, titles: Mapping[str, str]
) -> Markup | None:
    """Small multiples: per kind, the histogram of measured outcome changes, mean and interval.

    ``stats[kind]`` has ``measured``, ``mean`` and ``std``; ``titles[kind]`` heads its panel.
    """
    measured = sorted(k for k, s in stats.items() if s["measured"])
    if not measured:
        return None
    ncols = min(2, len(measured))
    nrows = math.ceil(len(measured) / ncols)
    fig = Figure(figsize=(_WIDE, 2.0 * nrows + 0.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    deltas = frame.filter(pl.col("outcome_delta").is_not_null()).partition_by("kind", as_dict=True)
    for ax, kind in zip(axes, measured, strict=False):
        values = deltas[(kind,)]["outcome_delta"].cast(pl.Float64).to_numpy()
        ax.hist(values, bins=min(30, max(5, int(math.sqrt(len(values))))), color="#56B4E9")
        mean, std, n = stats[kind]["mean"], stats[kind]["std"], stats[kind]["measured"]
        if n >= 2 and std is not None and not math.isnan(std):
            half = 1.96 * std / math.sqrt(n)
            ax.axvspan(mean - half, mean + half, color="#000000", alpha=0.12, lw=0)
        ax.axvline(0, color="#888888", lw=0.8)
        ax.axvline(mean, color="#000000", lw=1.2, ls="--")
        ax.set_title(titles.get(kind, kind), loc="left", fontsize=8.5)
        ax.set_xlabel(f"change per decision (n = {n:,})", fontsize=7.5)
        ax.grid(axis="x", visible=False)
    for ax in axes[len(measured) :]:
        ax.set_visible(False)
    return svg_element(fig, "outcomes", "distribution of measured outcome changes by kind")


def latency_plot(frame: pl.DataFrame) -> Markup | None:
    """The distribution of approval latency, stacked by decision (gates not yet decided left out)."""
    decided = frame.filter(pl.col("latency_min").is_not_null())
    if not decided.height:
        return None
    values = decided["latency_min"].cast(pl.Float64).to_numpy()
    edges = np.histogram_bin_edges(values, bins=30)
    fig = Figure(figsize=(_WIDE, 2.4), layout="constrained")
    ax = fig.add_subplot()
    groups, colours, labels = [], [], []
    for decision, colour in DECISION_COLOURS.items():
        part = decided.filter(pl.col("decision") == decision)["latency_min"]
        if part.len():
            groups.append(part.cast(pl.Float64).to_numpy())
            colours.append(colour)
            labels.append(decision)
    ax.hist(groups, bins=edges.tolist(), stacked=True, color=colours, label=labels)
    ax.set_xlabel("minutes from presented to decided")
    ax.set_ylabel("gates")
    ax.grid(axis="x", visible=False)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(labels))
    return svg_element(fig, "latency", "distribution of approval latency by decision")
