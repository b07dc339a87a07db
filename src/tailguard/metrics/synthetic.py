"""A seeded generator of plausible event tables, for tests and benchmarks of the metrics.

Not the simulator (``tailguard.sim`` models cause and effect); this only produces events with
realistic volumes and shapes (skewed lateness, per-job-code parts costs including a zero-cost
code, recalls attributed to other techs, a few churned techs), fully vectorised with NumPy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pyarrow as pa

from tailguard.events.schema import WIDE_SCHEMA

JOB_CODES = ("DW-LEAK", "DW-PUMP", "FR-COMP", "FR-SEAL", "WA-DRUM", "WA-BELT", "OV-IGN", "INSPECT")
_CODE_COST = np.array([60.0, 120.0, 300.0, 45.0, 180.0, 35.0, 80.0, 0.0])


def synthetic_events(
    *,
    areas: int,
    days: float,
    start: datetime,
    seed: int = 0,
    techs_per_area: int = 20,
    jobs_per_tech_day: float = 5.0,
    status_every_hours: int = 4,
) -> pa.Table:
    """Events for ``areas`` areas over ``days`` days from ``start``, in WIDE_SCHEMA.

    Args:
        areas: number of planning areas (``PA-0000`` ...).
        days: length of the period in days.
        start: the period's start (UTC).
        seed: the random seed; same arguments give the same table.
        techs_per_area: technicians per area.
        jobs_per_tech_day: mean completed jobs per tech per day.
        status_every_hours: each tech sends a ``tech.status`` this often.
    """
    rng = np.random.default_rng(seed)
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    span_us = int(days * 86_400_000_000)
    start_us = int(start.timestamp() * 1_000_000)
    n_techs = areas * techs_per_area
    tech_area = np.repeat(np.arange(areas), techs_per_area)
    # under-booked techs exist: per-tech rate varies
    rate = rng.gamma(4.0, jobs_per_tech_day / 4.0, n_techs)
    jobs_per_tech = rng.poisson(rate * days)
    job_tech = np.repeat(np.arange(n_techs), jobs_per_tech)
    n_jobs = job_tech.size
    job_area = tech_area[job_tech]
    ts = start_us + rng.integers(1, span_us, n_jobs)
    code = rng.integers(0, len(JOB_CODES), n_jobs)
    cost = _CODE_COST[code] * rng.lognormal(0.0, 0.35, n_jobs) * (rng.random(n_jobs) > 0.1)
    revenue = 140.0 + _CODE_COST[code] * 1.6 + rng.gamma(3.0, 20.0, n_jobs)
    pay = revenue * rng.uniform(0.25, 0.4, n_jobs)
    window_end = ts - rng.integers(30, 240, n_jobs) * 60_000_000
    late_min = rng.lognormal(2.0, 1.0, n_jobs) - 12.0
    arrived = window_end + (late_min * 60_000_000).astype(np.int64) - 3_600_000_000
    arrived = np.minimum(arrived + 3_600_000_000, ts - 60_000_000)
    ftf = rng.random(n_jobs) < 0.77
    recall = rng.random(n_jobs) < 0.07
    orig = tech_area[job_tech] * techs_per_area + rng.integers(0, techs_per_area, n_jobs)
    zips = job_area * 10 + rng.integers(0, 8, n_jobs)

    comp = pl.DataFrame(
        {
            "type": "job.completed",
            "ts": ts,
            "area": job_area,
            "job": np.arange(n_jobs),
            "tech": job_tech,
            "zip": zips,
            "job_code": np.array(JOB_CODES)[code],
            "window_end": window_end,
            "arrived_at": arrived,
            "completed_at": ts,
            "revenue": revenue,
            "parts_cost": np.round(cost, 2),
            "tech_pay": np.round(pay, 2),
            "first_time_fix": ftf,
            "recall": recall,
            "orig": orig,
            "parts_prestaged": rng.integers(0, 4, n_jobs).astype(np.int32),
        }
    ).with_columns(pl.col("parts_prestaged").alias("parts_used"))
    booked = comp.select(
        pl.lit("job.booked").alias("type"),
        (pl.col("ts") - 86_400_000_000).alias("ts"),
        "area",
        "job",
        "zip",
        "job_code",
        (pl.col("window_end") - 7_200_000_000).alias("window_start"),
        "window_end",
    ).filter(pl.col("ts") > start_us)
    survey_mask = rng.random(n_jobs) < 0.33
    nps = np.clip(np.round(rng.normal(8.2, 2.0, n_jobs)), 0, 10).astype(np.int8)
    surveys = pl.DataFrame(
        {
            "type": "cx.survey",
            "ts": np.minimum(ts + 3_600_000_000, start_us + span_us),
            "area": job_area,
            "job": np.arange(n_jobs),
            "tech": job_tech,
            "nps": nps,
        }
    ).filter(pl.Series(survey_mask))
    ticks = int(days * 24 // status_every_hours)
    st_tech = np.tile(np.arange(n_techs), ticks)
    st_ts = (
        start_us
        + np.repeat(np.arange(1, ticks + 1), n_techs) * status_every_hours * 3_600_000_000
        - rng.integers(0, 3_600_000_000, st_tech.size)
    )
    statuses = np.array(["available", "busy", "offline", "churned"])
    st_kind = rng.choice(4, st_tech.size, p=[0.5, 0.38, 0.119, 0.001])
    status = pl.DataFrame(
        {
            "type": "tech.status",
            "ts": st_ts,
            "area": tech_area[st_tech],
            "tech": st_tech,
            "status": statuses[st_kind],
        }
    )
    n_stock = int(areas * days * 12)
    stock = pl.DataFrame(
        {
            "type": "parts.stock",
            "ts": start_us + rng.integers(1, span_us, n_stock),
            "area": rng.integers(0, areas, n_stock),
            "locker": rng.integers(0, 3, n_stock),
            "sku": rng.integers(0, 12, n_stock),
            "on_hand": rng.integers(0, 30, n_stock).astype(np.int32),
            "lead_time_days": rng.gamma(2.0, 1.2, n_stock),
        }
    )
    n_chat = int(areas * days * 20)
    chat = pl.DataFrame(
        {
            "type": "cx.chat",
            "ts": start_us + rng.integers(1, span_us, n_chat),
            "area": rng.integers(0, areas, n_chat),
            "cust": rng.integers(0, 10_000, n_chat),
            "sentiment": rng.uniform(-1.0, 1.0, n_chat),
        }
    )
    frame = pl.concat([comp, booked, surveys, status, stock, chat], how="diagonal_relaxed")
    ts_type = pl.Datetime("us", "UTC")
    frame = (
        frame.sort("ts")
        .with_row_index("i")
        .select(
            ("e" + pl.col("i").cast(pl.String)).alias("event_id"),
            "type",
            pl.col("ts").cast(ts_type),
            ("PA-" + pl.col("area").cast(pl.String).str.zfill(4)).alias("area_id"),
            pl.when(pl.col("job").is_not_null())
            .then("J" + pl.col("job").cast(pl.String))
            .alias("job_id"),
            pl.when(pl.col("job").is_not_null())
            .then("C" + pl.col("job").cast(pl.String))
            .alias("customer_id"),
            pl.when(pl.col("tech").is_not_null())
            .then("T" + pl.col("tech").cast(pl.String).str.zfill(6))
            .alias("tech_id"),
            pl.when(pl.col("zip").is_not_null())
            .then(pl.col("zip").cast(pl.String).str.zfill(5))
            .alias("zip"),
            "job_code",
            pl.col("window_start").cast(ts_type),
            pl.col("window_end").cast(ts_type),
            pl.col("arrived_at").cast(ts_type),
            pl.col("completed_at").cast(ts_type),
            "revenue",
            "parts_cost",
            "tech_pay",
            "first_time_fix",
            pl.when(pl.col("recall"))
            .then("J-prev-" + pl.col("job").cast(pl.String))
            .alias("recall_of_job_id"),
            pl.when(pl.col("recall"))
            .then("T" + pl.col("orig").cast(pl.String).str.zfill(6))
            .alias("original_tech_id"),
            pl.col("parts_prestaged").cast(pl.Int32),
            pl.col("parts_used").cast(pl.Int32),
            "status",
            pl.col("nps").cast(pl.Int8),
            pl.col("sentiment"),
            pl.when(pl.col("locker").is_not_null())
            .then("L" + pl.col("locker").cast(pl.String))
            .alias("locker_id"),
            pl.when(pl.col("sku").is_not_null())
            .then("SKU-" + pl.col("sku").cast(pl.String))
            .alias("sku"),
            pl.col("on_hand").cast(pl.Int32),
            "lead_time_days",
        )
    )
    return to_wide(frame)


def to_wide(frame: pl.DataFrame) -> pa.Table:
    """A Polars frame with a subset of WIDE_SCHEMA's columns as a WIDE_SCHEMA Arrow table."""
    missing = [f for f in WIDE_SCHEMA if f.name not in frame.columns]
    table = frame.to_arrow()
    for f in missing:
        table = table.append_column(f.name, pa.nulls(table.num_rows, f.type))
    return table.select(WIDE_SCHEMA.names).cast(WIDE_SCHEMA)


def period_end(start: datetime, days: float) -> datetime:
    """The end of a period that starts at ``start`` and lasts ``days`` days."""
    return start + timedelta(days=days)
