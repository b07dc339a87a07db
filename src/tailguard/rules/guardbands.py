"""The guard-bands of MISSION.md as data, and a vectorised check of a scorecard against them.

Seven guard-bands are single-KPI bounds over existing KPIs and become the built-in
``guard_bands`` rule group (severity warning). ``jobs/week +12 % YoY`` is not a threshold on a
KPI value but on growth against the same week a year earlier, which a 7-day scorecard cannot
see: it is kept here as a ``yoy_growth`` band, checked by :func:`guardband_status` only when the
caller passes last year's ``jobs_per_week`` per area (:mod:`tailguard.rules.yoy` reads it from a
year of history or a baseline file), and otherwise unknown (null: neither inside nor a breach). A null KPI (no data) is never a breach.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import polars as pl

from tailguard.rules.model import BELOW, NEGATIONS, OPS, Op


@dataclass(frozen=True, kw_only=True, slots=True)
class GuardBand:
    """One guard-band: the KPI must satisfy ``kpi <inside_op> bound``.

    Attributes:
        id: a short name (also the rule name, prefixed ``guard_``).
        kpi: the KPI id.
        inside_op: the comparison that holds when the area is inside the band.
        bound: the bound (for ``yoy_growth``, the minimum growth in percent).
        kind: ``threshold`` (a bound on the KPI) or ``yoy_growth`` (growth vs a year earlier).
        doc: the guard-band as MISSION.md states it.
    """

    id: str
    kpi: str
    inside_op: Op
    bound: float
    kind: Literal["threshold", "yoy_growth"] = "threshold"
    doc: str

    @property
    def lower_is_better(self) -> bool:
        """True when the band holds below its bound (its tail is the high end)."""
        return self.inside_op in BELOW


GUARD_BANDS: Final[tuple[GuardBand, ...]] = (
    GuardBand(
        id="lateness",
        kpi="lateness_p90_min",
        inside_op="<",
        bound=20,
        doc="P90 customer lateness < 20 min",
    ),
    GuardBand(id="nps", kpi="nps_p10", inside_op=">", bound=7, doc="P10 NPS > 7"),
    GuardBand(
        id="earnings",
        kpi="earnings_p10_week",
        inside_op=">",
        bound=700,
        doc="P10 weekly earnings > $700",
    ),
    GuardBand(
        id="churn", kpi="churn_90d_pct", inside_op="<", bound=8, doc="90-day tech churn < 8 %"
    ),
    GuardBand(id="recall", kpi="recall_pct_p90", inside_op="<", bound=10, doc="P90 recall < 10 %"),
    GuardBand(
        id="parts_cost",
        kpi="parts_cost_delta_p90_pct",
        inside_op="<",
        bound=15,
        doc="P90 parts-cost delta < +15 % vs median",
    ),
    GuardBand(
        id="jobs_growth",
        kpi="jobs_per_week",
        inside_op=">=",
        bound=12,
        kind="yoy_growth",
        doc="jobs/week +12 % YoY",
    ),
    GuardBand(id="gross_profit", kpi="gp_pct", inside_op=">", bound=15, doc="GP > 15 %"),
)

#: The comparison that means "outside the band" for each inside comparison.
BREACH_OP: Final[Mapping[str, str]] = {op: NEGATIONS[op] for op in OPS}


def _inside(expr: pl.Expr, op: str, bound: float) -> pl.Expr:
    result: pl.Expr = OPS[op](expr, bound)
    return result


def inside_expr(band: GuardBand) -> pl.Expr:
    """Whether a threshold band holds, per row of a scorecard (null where its KPI is null)."""
    return _inside(pl.col(band.kpi), band.inside_op, band.bound)


def guardband_status(
    scorecard: pl.DataFrame, *, last_year_jobs_per_week: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Per area, whether each guard-band holds, and whether all do.

    Args:
        scorecard: ``area_id`` plus KPI columns.
        last_year_jobs_per_week: ``area_id, jobs_per_week`` a year earlier, for the YoY band.

    Returns:
        ``area_id``, one Boolean ``gb_<id>`` column per guard-band (null KPI = inside; the YoY
        band is null, unknown, when last year's figure is missing), and ``inside_all`` (every
        band that is known holds).
    """
    frame = scorecard
    if last_year_jobs_per_week is not None:
        frame = frame.join(
            last_year_jobs_per_week.select("area_id", pl.col("jobs_per_week").alias("_ly")),
            on="area_id",
            how="left",
        )
    cols: list[pl.Expr] = []
    for band in GUARD_BANDS:
        if band.kind == "threshold":
            ok = inside_expr(band)
        elif last_year_jobs_per_week is not None:
            growth = 100.0 * (pl.col(band.kpi) / pl.col("_ly") - 1.0)
            ok = pl.when(pl.col("_ly") > 0).then(_inside(growth, band.inside_op, band.bound))
        else:
            ok = pl.lit(None, pl.Boolean)
        # The YoY band without last year's figure is unknown (null), never "inside".
        if band.kind == "threshold":
            ok = ok.fill_null(value=True)
        cols.append(ok.alias(f"gb_{band.id}"))
    out = frame.select("area_id", *cols)
    every = [pl.col(f"gb_{b.id}").fill_null(value=True) for b in GUARD_BANDS]
    return out.with_columns(pl.all_horizontal(every).alias("inside_all"))
