"""A seeded "last year" for a simulated network: jobs per week a year before the run.

A simulated network starts on the day it is built, so it has no event history a year back and
the jobs/week +12 % YoY guard-band could never be measured. Simulating a year of events would
cost a year of hours; instead the simulator states last year's figures as a baseline file
(:mod:`tailguard.rules.yoy`'s format) that the demo hands to the agents like a user would:

``last_year = jobs_now / (1 + growth) x (1 + weekly noise)``

where ``jobs_now`` is each area's jobs per week this year (the demo passes the agents-off arm's
mean over the run: last year's network is this one without agents), ``growth``
a per-area year-on-year growth drawn once from normal(``mean``, ``sd``) (default 12 % and 6 %:
areas sit around the band's edge, so what the agents do to capacity shows), and the noise a
weekly normal(0, ``noise``). Deterministic from the seed. The growth draws are ground truth:
only the evaluation (and this module's caller, the demo harness) sees them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import polars as pl


def seeded_yoy_baseline(
    jobs_now: Mapping[str, float],
    first_day: date,
    days: int,
    *,
    seed: int,
    mean: float = 0.12,
    sd: float = 0.06,
    noise: float = 0.03,
) -> pl.DataFrame:
    """Last year's ``area_id, week_ending, jobs_per_week`` for every day of a run.

    Args:
        jobs_now: each area's jobs per week now (areas without a positive figure are left out).
        first_day, days: the run's days; a row is written for each day's date 364 days earlier
            (and 3 days either side), so any hour of the run finds its week a year back.
        seed: the network's seed.
        mean, sd: the areas' year-on-year growth (fractions).
        noise: the relative week-to-week noise of last year's figures.
    """
    areas = sorted(a for a, v in jobs_now.items() if v is not None and v > 0)
    rng = np.random.default_rng([seed, 0x10E])
    growth = rng.normal(mean, sd, size=len(areas)).clip(-0.5, 1.5)
    lo = first_day - timedelta(days=364 + 3)
    span = days + 7
    rows: dict[str, list[object]] = {"area_id": [], "week_ending": [], "jobs_per_week": []}
    wiggle = rng.normal(0.0, noise, size=(len(areas), span))
    for i, area in enumerate(areas):
        base = float(jobs_now[area]) / (1.0 + float(growth[i]))
        for d in range(span):
            rows["area_id"].append(area)
            rows["week_ending"].append(lo + timedelta(days=d))
            rows["jobs_per_week"].append(round(max(0.0, base * (1.0 + float(wiggle[i, d]))), 3))
    return pl.DataFrame(
        rows, schema={"area_id": pl.String, "week_ending": pl.Date, "jobs_per_week": pl.Float64}
    )
