"""The demo's jobs/week +12 % YoY guard-band: a seeded last year, written and read as a file.

The simulator states last year's jobs per week of every area (:mod:`tailguard.sim.history`,
anchored on the agents-off arm's jobs over the run: last year's network is this one without
agents, a seeded growth smaller); the demo writes it as ``yoy_baseline.csv`` in the
documented baseline format and reads it back through the same parser a user's file goes through
(:func:`tailguard.rules.yoy.load_baseline`), so the band is measured in both arms each hour.

``guardband_pass_pct`` stays the share of area-hours inside the seven threshold bands (the
figure the learning policy's guardrail and ``tailguard learn bench`` use, comparable across
runs); the YoY band is reported beside it (``band_pass_pct.jobs_yoy``) and in
``guardband_pass_pct_with_yoy`` (all eight bands, over the area-hours where YoY was measured),
because its baseline here is a seeded assumption, not a measured history.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from tailguard.rules.yoy import load_baseline, with_yoy, write_baseline
from tailguard.sim.history import seeded_yoy_baseline

BASELINE_FILE = "yoy_baseline.csv"
YOY_COLUMN = "inside_jobs_growth"


def demo_baseline(
    off_rows: pl.DataFrame, start: datetime, days: int, *, seed: int, out: Path
) -> pl.DataFrame:
    """Write the seeded baseline beside the demo's outputs and read it back.

    Last year's network is taken to be this year's without agents, ``1 + growth`` smaller:
    the anchor is each area's mean jobs per week in the agents-off arm over the run.
    """
    means = off_rows.group_by("area_id").agg(pl.col("jobs_per_week").mean())
    jobs = {a: float(v) for a, v in means.iter_rows() if v is not None}
    frame = seeded_yoy_baseline(jobs, start.date(), days + 1, seed=seed)
    path = write_baseline(frame, out / BASELINE_FILE)
    return load_baseline(path)


def measure_yoy(hourly: pl.DataFrame, baseline: pl.DataFrame | None) -> pl.DataFrame:
    """The hourly guard-band rows with the YoY band filled (null where unknown)."""
    return with_yoy(hourly, baseline)


def yoy_figures(hourly: pl.DataFrame) -> dict[str, Any]:
    """``jobs_yoy`` (share of measured area-hours inside) and the all-eight-bands pass share."""
    measured = hourly.filter(pl.col(YOY_COLUMN).is_not_null())
    if measured.is_empty():
        return {"jobs_yoy": None, "guardband_pass_pct_with_yoy": None}
    both = measured.select((pl.col("inside_all") & pl.col(YOY_COLUMN)).cast(pl.Float64).mean())
    return {
        "jobs_yoy": round(100.0 * float(measured[YOY_COLUMN].cast(pl.Float64).mean()), 3),  # type: ignore[arg-type]
        "guardband_pass_pct_with_yoy": round(100.0 * float(both.item()), 3),
    }
