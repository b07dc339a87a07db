"""Hand-built events for the metrics tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pyarrow as pa

from tailguard.metrics.synthetic import to_wide

T0 = datetime(2026, 3, 2, tzinfo=UTC)
_ids = itertools.count()


def at(hours: float) -> datetime:
    """T0 plus some hours."""
    return T0 + timedelta(hours=hours)


def ev(kind: str, ts: datetime, area: str = "PA-0001", **fields: Any) -> dict[str, Any]:
    """One event as a row dict."""
    return {
        "event_id": fields.pop("event_id", f"x{next(_ids)}"),
        "type": kind,
        "ts": ts,
        "area_id": area,
        **fields,
    }


def completed(
    ts: datetime,
    *,
    area: str = "PA-0001",
    tech: str = "T1",
    late_min: float = 0.0,
    revenue: float = 200.0,
    parts_cost: float = 50.0,
    pay: float = 70.0,
    ftf: bool = True,
    job_code: str = "DW",
    zip_code: str = "10001",
    recall_of: str | None = None,
    original_tech: str | None = None,
    parts_used: int = 1,
    **fields: Any,
) -> dict[str, Any]:
    """A job.completed event arriving ``late_min`` minutes after its window end."""
    window_end = ts - timedelta(hours=1)
    return ev(
        "job.completed",
        ts,
        area,
        job_id=f"J{next(_ids)}",
        tech_id=tech,
        customer_id="C1",
        zip=zip_code,
        job_code=job_code,
        window_end=window_end,
        arrived_at=window_end + timedelta(minutes=late_min),
        completed_at=ts,
        revenue=revenue,
        parts_cost=parts_cost,
        tech_pay=pay,
        first_time_fix=ftf,
        recall_of_job_id=recall_of,
        original_tech_id=original_tech,
        parts_prestaged=1,
        parts_used=parts_used,
        **fields,
    )


def table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as a WIDE_SCHEMA table."""
    frame = pl.DataFrame(rows, infer_schema_length=None)
    casts = {
        c: pl.Datetime("us", "UTC")
        for c in ("ts", "window_end", "arrived_at", "completed_at", "window_start", "eta")
        if c in frame.columns
    }
    return to_wide(frame.with_columns(pl.col(c).cast(t) for c, t in casts.items()))
