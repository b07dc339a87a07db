"""The diagnostic pack of an area: per-KPI unit distributions, drift, trend, tail gains and drag.

Each KPI is an area-level percentile or share; its *distribution* is over the units that
make it up (:data:`DISTRIBUTIONS`): per-technician values for NPS (the tech's mean survey
score), earnings, recall %, first-time fix, jobs and GP %; per-zip values for lateness (the
zip's P90) and ETA adherence; per-job parts-cost deltas; per-SKU P95 lead times. Churn has no
unit split in the event language, so its distribution is the area's hourly pulse values over
the week. The pack compares this week's distribution with last week's (drift measures of
:mod:`tailguard.weekly.drift`) and marks the P10, P50 and P90 of both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from tailguard.clock import format_ts
from tailguard.metrics.kpis import KPI_IDS
from tailguard.metrics.quantiles import pctl_numpy
from tailguard.weekly.drift import drift

F64 = npt.NDArray[np.float64]

#: KPI id -> (week frame, column, unit the distribution runs over).
DISTRIBUTIONS: Final[dict[str, tuple[str, str, str]]] = {
    "nps_p10": ("techs", "nps_mean", "tech"),
    "nps_p90": ("techs", "nps_mean", "tech"),
    "lateness_p90_min": ("zips", "lateness_p90_min", "zip"),
    "earnings_p10_week": ("techs", "earnings_week", "tech"),
    "earnings_p90_week": ("techs", "earnings_week", "tech"),
    "recall_pct_p90": ("techs", "recall_pct", "tech"),
    "ftf_pct": ("techs", "ftf_pct", "tech"),
    "parts_cost_delta_p90_pct": ("jobs", "parts_cost_delta_pct", "job"),
    "jobs_per_week": ("techs", "jobs", "tech"),
    "gp_pct": ("techs", "gp_pct", "tech"),
    "eta_adherence_pct": ("zips", "eta_adherence_pct", "zip"),
    "parts_lead_time_p95_days": ("skus", "lead_time_p95_days", "sku"),
    "churn_90d_pct": ("pulse", "churn_90d_pct", "hour"),
}
TOP_N: Final = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class KpiPanel:
    """One KPI of the pack."""

    kpi_id: str
    value: float | None
    last_value: float | None
    unit_kind: str
    this: F64
    last: F64
    drift: dict[str, Any]
    trend_x: F64
    trend_y: F64
    week_x: F64
    week_y: F64
    bench: Mapping[str, Any]

    def marks(self, which: str = "this") -> dict[str, float | None]:
        """P10 / P50 / P90 (inverted CDF) of this or last week's unit values."""
        arr = self.this if which == "this" else self.last
        return {f"p{q}": pctl_numpy(arr, q) for q in (10, 50, 90)}


@dataclass(frozen=True, kw_only=True, slots=True)
class Pack:
    """Everything one area's pack shows (rendering reads only this)."""

    area_id: str
    as_of: datetime
    gp_basis: str
    has_last_week: bool
    panels: tuple[KpiPanel, ...]
    top_gains: list[dict[str, Any]]
    bottom_drag: list[dict[str, Any]]
    copy_from: list[dict[str, Any]]
    teach_to: list[dict[str, Any]]
    last_week_score: dict[str, Any] | None = None
    okr: dict[str, Any] | None = None
    money: dict[str, float | None] = field(default_factory=dict)
    #: lever id -> the areas whose OKR committed to it this week (read from every area's OKR).
    commitments: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (drift per KPI, gains, drag), as ``pack.json`` holds."""
        return {
            "area_id": self.area_id,
            "as_of": format_ts(self.as_of),
            "gp_basis": self.gp_basis,
            "kpis": {
                p.kpi_id: {
                    "value": p.value,
                    "last_value": p.last_value,
                    "unit": p.unit_kind,
                    "marks": p.marks("this"),
                    "marks_last": p.marks("last"),
                    "drift": p.drift,
                }
                for p in self.panels
            },
            "top_tail_gains": self.top_gains,
            "bottom_tail_drag": self.bottom_drag,
            "copy_from": self.copy_from,
            "teach_to": self.teach_to,
            "last_week_score": self.last_week_score,
            "money": self.money,
            "commitments": self.commitments,
        }


def _num(v: Any) -> float | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def _values(frame: pl.DataFrame | None, column: str) -> F64:
    if frame is None or frame.height == 0 or column not in frame.columns:
        return np.empty(0)
    arr = frame[column].drop_nulls().cast(pl.Float64).to_numpy()
    return np.asarray(arr[np.isfinite(arr)], dtype=np.float64)


Parts = Mapping[str, pl.DataFrame]


def build_pack(
    area_id: str,
    as_of: datetime,
    *,
    this_week: Parts,
    last_week: Parts | None,
    pulse: pl.DataFrame | None,
    weekly: pl.DataFrame | None,
    bench: Mapping[str, Mapping[str, Any]],
    copy_from: list[dict[str, Any]],
    teach_to: list[dict[str, Any]],
    gp_basis: str,
) -> Pack:
    """Assemble one area's pack.

    Args:
        this_week, last_week: the area's rows of each week frame (``areas``, ``techs``,
            ``zips``, ``skus``, ``jobs``); ``last_week`` None in the first week.
        pulse: the area's pulse history (``as_of`` + KPI columns), hourly, oldest first.
        weekly: the area's scorecard at each past week end (``as_of`` + KPI columns).
        bench: the area's ``benchmark.json`` content.
    """
    week_lo = as_of - timedelta(days=7)
    prev_lo = as_of - timedelta(days=14)
    area_row = this_week["areas"].row(0, named=True) if this_week["areas"].height else {}
    last_row = (
        last_week["areas"].row(0, named=True)
        if last_week is not None and last_week["areas"].height
        else {}
    )
    t0 = as_of.timestamp()
    pulse_days, pulse_cols = _columns(pulse, t0)
    week_days, week_cols = _columns(weekly, t0)
    empty = np.empty(0)
    panels = []
    for k in KPI_IDS:
        source, col, unit = DISTRIBUTIONS[k]
        if source == "pulse":
            if pulse is not None and pulse.height and k in pulse.columns:
                cur = pulse.filter((pl.col("as_of") > week_lo) & (pl.col("as_of") <= as_of))
                old = pulse.filter((pl.col("as_of") > prev_lo) & (pl.col("as_of") <= week_lo))
                this, last = _values(cur, k), _values(old, k)
            else:
                this, last = np.empty(0), np.empty(0)
        else:
            this = _values(this_week.get(source), col)
            last = _values(last_week.get(source) if last_week is not None else None, col)
        trend_x, trend_y = (pulse_days, pulse_cols[k]) if k in pulse_cols else (empty, empty)
        week_x, week_y = (week_days, week_cols[k]) if k in week_cols else (empty, empty)
        panels.append(
            KpiPanel(
                kpi_id=k,
                value=_num(area_row.get(k)),
                last_value=_num(last_row.get(k)),
                unit_kind=unit,
                this=this,
                last=last,
                drift=drift(last, this).to_dict(),
                trend_x=trend_x,
                trend_y=trend_y,
                week_x=week_x,
                week_y=week_y,
                bench=bench.get(k, {}),
            )
        )
    return Pack(
        area_id=area_id,
        as_of=as_of,
        gp_basis=gp_basis,
        has_last_week=last_week is not None,
        panels=tuple(panels),
        top_gains=top_gains(this_week["techs"], last_week["techs"] if last_week else None),
        bottom_drag=bottom_drag(this_week["zips"]),
        copy_from=copy_from,
        teach_to=teach_to,
        money={
            "revenue_usd": _num(area_row.get("revenue")),
            "gp_usd": _num(area_row.get("gp_usd")),
            "completed_jobs": _num(area_row.get("completed_jobs")),
        },
    )


def _columns(frame: pl.DataFrame | None, t0: float) -> tuple[F64, dict[str, F64]]:
    """(days relative to as_of, {kpi: values}) of a history frame (NaN where null)."""
    if frame is None or frame.height == 0:
        return np.empty(0), {}
    days = (frame["as_of"].dt.epoch("us").cast(pl.Float64).to_numpy() / 1e6 - t0) / 86400.0
    kpis = [k for k in KPI_IDS if k in frame.columns]
    matrix = frame.select(pl.col(kpis).cast(pl.Float64).fill_null(float("nan"))).to_numpy()
    return np.asarray(days, dtype=np.float64), {
        k: np.ascontiguousarray(matrix[:, i], dtype=np.float64) for i, k in enumerate(kpis)
    }


def top_gains(
    techs: pl.DataFrame, last: pl.DataFrame | None, n: int = TOP_N
) -> list[dict[str, Any]]:
    """The ``n`` technicians with the highest GP this week (with last week's GP when known)."""
    if techs.height == 0:
        return []
    best = (
        techs.filter(pl.col("gp_usd").is_not_null())
        .sort(["gp_usd", "tech_id"], descending=[True, False])
        .head(n)
    )
    prev: dict[str, float] = {}
    if last is not None and last.height:
        prev = dict(last.select("tech_id", "gp_usd").iter_rows())
    out = []
    for r in best.iter_rows(named=True):
        before = prev.get(r["tech_id"])
        out.append(
            {
                "tech_id": r["tech_id"],
                "gp_usd": round(float(r["gp_usd"]), 2),
                "jobs": int(r["jobs"]),
                "revenue_usd": round(float(r["revenue"]), 2),
                "gp_last_week_usd": None if before is None else round(float(before), 2),
            }
        )
    return out


def bottom_drag(zips: pl.DataFrame, n: int = TOP_N) -> list[dict[str, Any]]:
    """The ``n`` zips whose GP fell furthest below their expected level this week."""
    if zips.height == 0:
        return []
    worst = (
        zips.filter(pl.col("gp_vs_expected_usd").is_not_null() & (pl.col("gp_vs_expected_usd") < 0))
        .sort(["gp_vs_expected_usd", "zip"])
        .head(n)
    )
    return [
        {
            "zip": r["zip"],
            "gp_vs_expected_usd": round(float(r["gp_vs_expected_usd"]), 2),
            "gp_usd": round(float(r["gp_usd"]), 2),
            "expected_gp_usd": round(float(r["expected_gp_usd"]), 2),
            "jobs": int(r["jobs"]),
            "booked": int(r["booked"]),
            "lateness_p90_min": _num(r.get("lateness_p90_min")),
        }
        for r in worst.iter_rows(named=True)
    ]
