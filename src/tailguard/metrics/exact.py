"""Every KPI computed exactly, with Polars, straight from raw events.

This is the independent reference the engine is tested against and the baseline its
benchmark is measured beside. It shares only the KPI ids with the engine: no partials, no
sketches, and its own inverted-CDF lookup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa

from tailguard.metrics.kpis import CHURN_DAYS, KPI_IDS, RECALL_MIN_JOBS


def _pctl(column: str, p: int) -> pl.Expr:
    # inverted CDF: the value at 1-based rank ceil(p n / 100), integer arithmetic
    n = pl.len()
    rank = (n * p + 99) // 100
    return pl.col(column).sort().gather(pl.max_horizontal(rank, 1) - 1).first()


def exact_scorecard(
    table: pa.Table | pl.DataFrame, as_of: datetime, window_days: int = 7
) -> pl.DataFrame:
    """Every KPI of INTERFACES.md section 2 per area, exactly, from raw events.

    Args:
        table: events in WIDE_SCHEMA (duplicates by ``event_id`` are counted once, first wins).
        as_of: the end of the window (inclusive).
        window_days: W.

    Returns:
        ``area_id`` (every area with any event in ``table``, sorted) plus one Float64 column
        per KPI id, null where the window has no data for it.
    """
    df = table if isinstance(table, pl.DataFrame) else pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    as_of = as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)
    df = df.unique(subset="event_id", keep="first", maintain_order=True)
    areas = df.select("area_id").unique().sort("area_id")
    lo = as_of - timedelta(days=window_days)
    win = df.filter((pl.col("ts") > lo) & (pl.col("ts") <= as_of))
    comp = win.filter(pl.col("type") == "job.completed")
    scale = 7.0 / window_days

    frames: list[pl.DataFrame] = []
    surveys = win.filter((pl.col("type") == "cx.survey") & pl.col("nps").is_not_null())
    frames.append(
        surveys.group_by("area_id").agg(
            _pctl("nps", 10).cast(pl.Float64).alias("nps_p10"),
            _pctl("nps", 90).cast(pl.Float64).alias("nps_p90"),
        )
    )
    late = comp.with_columns(
        ((pl.col("arrived_at") - pl.col("window_end")).dt.total_microseconds() / 60e6)
        .clip(lower_bound=0.0)
        .alias("late")
    )
    frames.append(late.group_by("area_id").agg(_pctl("late", 90).alias("lateness_p90_min")))

    pop = (
        win.filter(
            pl.col("type").is_in(["tech.status", "job.completed"]) & pl.col("tech_id").is_not_null()
        )
        .select("area_id", "tech_id")
        .unique()
    )
    per_tech = comp.group_by("area_id", "tech_id").agg(
        pl.col("tech_pay").sum().alias("pay"), pl.len().alias("jobs")
    )
    earn = pop.join(per_tech, on=["area_id", "tech_id"], how="left").with_columns(
        (pl.col("pay").fill_null(0.0) * scale).alias("earn")
    )
    frames.append(
        earn.group_by("area_id").agg(
            _pctl("earn", 10).alias("earnings_p10_week"),
            _pctl("earn", 90).alias("earnings_p90_week"),
        )
    )
    recalls = (
        comp.filter(
            pl.col("recall_of_job_id").is_not_null() & pl.col("original_tech_id").is_not_null()
        )
        .group_by("area_id", pl.col("original_tech_id").alias("tech_id"))
        .agg(pl.len().alias("recalls"))
    )
    rec = (
        per_tech.filter(pl.col("jobs") >= RECALL_MIN_JOBS)
        .join(recalls, on=["area_id", "tech_id"], how="left")
        .with_columns((100.0 * pl.col("recalls").fill_null(0) / pl.col("jobs")).alias("r"))
    )
    frames.append(rec.group_by("area_id").agg(_pctl("r", 90).alias("recall_pct_p90")))

    revenue = pl.col("revenue").sum()
    frames.append(
        comp.group_by("area_id").agg(
            (100.0 * pl.col("first_time_fix").cast(pl.Float64).mean()).alias("ftf_pct"),
            (pl.len() * scale).alias("jobs_per_week"),
            pl.when(revenue != 0)
            .then(
                100.0 * (revenue - pl.col("parts_cost").sum() - pl.col("tech_pay").sum()) / revenue
            )
            .alias("gp_pct"),
            (100.0 * (pl.col("arrived_at") <= pl.col("window_end")).cast(pl.Float64).mean()).alias(
                "eta_adherence_pct"
            ),
        )
    )
    delta = (
        comp.with_columns(pl.col("parts_cost").median().over("area_id", "job_code").alias("med"))
        .filter(pl.col("med") != 0)
        .with_columns((100.0 * (pl.col("parts_cost") / pl.col("med") - 1.0)).alias("delta"))
    )
    frames.append(
        delta.group_by("area_id").agg(_pctl("delta", 90).alias("parts_cost_delta_p90_pct"))
    )
    stock = win.filter((pl.col("type") == "parts.stock") & pl.col("lead_time_days").is_not_null())
    frames.append(
        stock.group_by("area_id").agg(_pctl("lead_time_days", 95).alias("parts_lead_time_p95_days"))
    )

    lo90 = as_of - timedelta(days=CHURN_DAYS)
    named90 = df.filter(
        (pl.col("ts") > lo90)
        & (pl.col("ts") <= as_of)
        & pl.col("type").is_in(["tech.status", "job.completed"])
        & pl.col("tech_id").is_not_null()
    )
    churn = (
        named90.group_by("area_id", "tech_id")
        .agg((pl.col("status") == "churned").any().alias("churned"))
        .group_by("area_id")
        .agg((100.0 * pl.col("churned").sum() / pl.len()).alias("churn_90d_pct"))
    )
    frames.append(churn)

    out = areas
    for frame in frames:
        out = out.join(frame, on="area_id", how="left")
    return out.select("area_id", *(pl.col(k).cast(pl.Float64) for k in KPI_IDS))
