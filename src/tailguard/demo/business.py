""" "Did it help?" in the units a manager counts: the demo's business figures, on against off.

For each figure (minutes of P90 lateness, P10 NPS, technicians' P10 weekly earnings, gross
profit %), each area's mean over the agents' weeks with the agents on minus the same area's
mean with them off (the arms share the same random numbers), averaged over areas, with a 95 %
bootstrap interval over areas, and a plain verdict: "helped" or "hurt" when the interval lies
wholly on one side of zero, else "no difference we can tell". One figure is in dollars: gross
profit per area-week (the completed jobs' revenue less parts cost and technician pay) net of what
the executed interventions committed, on against off, paired by area the same way. The total
spend is also reported on its own line, as what it is.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import polars as pl

from tailguard.demo.compare import RESAMPLES, SEED

#: (hourly column, title, unit, higher is better)
FIGURES: Final = (
    ("lateness_p90_min", "P90 customer lateness", "min", False),
    ("nps_p10", "P10 NPS", "points", True),
    ("earnings_p10_week", "Technicians' P10 weekly earnings", "USD", True),
    ("gp_pct", "Gross profit", "%", True),
)


def paired_mean_difference(
    hourly: pl.DataFrame, column: str, *, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any] | None:
    """Per area, the mean of ``column`` on minus off; their mean over areas and its 95 % CI.

    None when no area has the figure in both arms.
    """
    if column not in hourly.columns:
        return None
    per_area = (
        hourly.filter(pl.col(column).is_not_null())
        .group_by("area_id", "arm")
        .agg(pl.col(column).cast(pl.Float64).mean().alias("v"))
        .pivot(on="arm", index="area_id", values="v")
    )
    if not {"on", "off"} <= set(per_area.columns):
        return None
    return paired_areas(per_area, resamples=resamples, seed=seed)


def paired_areas(
    per_area: pl.DataFrame, *, resamples: int = RESAMPLES, seed: int = SEED
) -> dict[str, Any] | None:
    """Given one row per area with ``on`` and ``off``: the mean of on, of off, of on minus
    off, and the 95 % bootstrap interval of that mean over areas. None without an area that
    has both."""
    both = per_area.drop_nulls(["on", "off"]).sort("area_id")
    if both.is_empty():
        return None
    on = both["on"].cast(pl.Float64).to_numpy()
    off = both["off"].cast(pl.Float64).to_numpy()
    diffs = on - off
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, diffs.size, size=(resamples, diffs.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {
        "on": float(on.mean()),
        "off": float(off.mean()),
        "difference": float(diffs.mean()),
        "ci95": [float(lo), float(hi)],
        "areas": int(diffs.size),
    }


def verdict(ci95: list[float], *, higher_is_better: bool) -> str:
    """ "helped", "hurt" or "no difference we can tell" from the interval of on minus off."""
    lo, hi = ci95
    if lo > 0 or hi < 0:
        better = (lo > 0) == higher_is_better
        return "helped" if better else "hurt"
    return "no difference we can tell"


#: The net gross-profit figure's key in ``business.figures``.
NET_GP: Final = "gp_net_usd_week"


def net_gross_profit(
    money_on: pl.DataFrame, money_off: pl.DataFrame, spend: pl.DataFrame, *, weeks: float
) -> dict[str, Any] | None:
    """Gross profit per area-week net of the interventions' committed spend, on against off.

    ``money_on``/``money_off``: :meth:`~tailguard.demo.money.MoneyMeter.frame` of each arm over
    the same hours; ``spend``: :func:`~tailguard.demo.money.committed_spend` of the agents-on
    arm (the agents-off arm spends nothing). An area without completed jobs in an arm counts
    as zero gross profit there. None when neither arm has any area.
    """
    areas = pl.concat([money_on.select("area_id"), money_off.select("area_id")]).unique()
    if areas.is_empty() or weeks <= 0:
        return None

    def gp(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return frame.select("area_id", pl.col("gp_usd").alias(name))

    per_area = (
        areas.join(gp(money_on, "gp_on"), on="area_id", how="left")
        .join(gp(money_off, "off"), on="area_id", how="left")
        .join(spend.select("area_id", "spend_usd"), on="area_id", how="left")
        .fill_null(0.0)
        .select(
            "area_id",
            ((pl.col("gp_on") - pl.col("spend_usd")) / weeks).alias("on"),
            (pl.col("off") / weeks).alias("off"),
        )
    )
    return paired_areas(per_area)


def _row(
    column: str, title: str, unit: str, higher: bool, diff: dict[str, Any] | None
) -> dict[str, Any]:
    if diff is None:
        return {"kpi": column, "title": title, "unit": unit, "verdict": "no data"}
    return {
        "kpi": column,
        "title": title,
        "unit": unit,
        "higher_is_better": higher,
        "on": round(diff["on"], 3),
        "off": round(diff["off"], 3),
        "difference": round(diff["difference"], 3),
        "ci95": [round(v, 3) for v in diff["ci95"]],
        "areas": diff["areas"],
        "verdict": verdict(diff["ci95"], higher_is_better=higher),
    }


def business_figures(
    hourly: pl.DataFrame, *, spend_usd: float | None, net_gp: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The headline of ``summary.json`` (``business``): each figure on against off, gross
    profit in dollars net of the interventions' spend when ``net_gp`` (a
    :func:`net_gross_profit`) is given, and the spend itself labelled as such."""
    rows = [
        _row(column, title, unit, higher, paired_mean_difference(hourly, column))
        for column, title, unit, higher in FIGURES
    ]
    if net_gp is not None:
        title = "Gross profit net of the interventions' spend"
        rows.append(_row(NET_GP, title, "USD per area-week", True, net_gp))
    return {
        "figures": rows,
        "intervention_spend_usd": spend_usd,
        "note": "each KPI figure: mean over areas of (area mean with agents on - with agents "
        "off) over the agents' weeks, 95 % bootstrap interval over areas; gross profit net of "
        "spend: per area-week, the completed jobs' revenue less parts cost and technician pay "
        "(per-job bonuses included) less, with the agents on, the money the executed "
        "interventions committed; the spend line is that committed money in total",
    }
