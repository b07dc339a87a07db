""" "Did it help?" in the units a manager counts: the demo's business figures, on against off.

For each figure (minutes of P90 lateness, P10 NPS, technicians' P10 weekly earnings, gross
profit %), each area's mean over the agents' weeks with the agents on minus the same area's
mean with them off (the arms share the same random numbers), averaged over areas, with a 95 %
bootstrap interval over areas, and a plain verdict: "helped" or "hurt" when the interval lies
wholly on one side of zero, else "no difference we can tell". The interventions' spend is
reported beside them as what it is, not folded into a figure it was not measured against.
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
    both = per_area.drop_nulls(["on", "off"]).sort("area_id")
    if both.is_empty():
        return None
    on = both["on"].to_numpy()
    off = both["off"].to_numpy()
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


def business_figures(hourly: pl.DataFrame, *, spend_usd: float | None) -> dict[str, Any]:
    """The headline of ``summary.json`` (``business``): each figure on against off, and the
    interventions' spend labelled as such."""
    rows: list[dict[str, Any]] = []
    for column, title, unit, higher in FIGURES:
        diff = paired_mean_difference(hourly, column)
        if diff is None:
            rows.append({"kpi": column, "title": title, "unit": unit, "verdict": "no data"})
            continue
        rows.append(
            {
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
        )
    return {
        "figures": rows,
        "intervention_spend_usd": spend_usd,
        "note": "each figure: mean over areas of (area mean with agents on - with agents off) "
        "over the agents' weeks, 95 % bootstrap interval over areas; the spend is what the "
        "interventions committed, reported beside the figures, not netted from them",
    }
