"""The rolling frames the signals read, updated once per hour for all areas at once.

* bookings per zip and hour over the last 25 hours;
* surveys of the last 72 hours with customer and tech, marked ``late`` when their job's
  completion said the tech arrived after the window, and each tech's surveys, detractors, pay,
  jobs and worked days per day with their hire date when the stream tells it
  (:mod:`tailguard.agents.techdays`);
* the latest stock of every (locker, SKU), and the lead times the stock events quoted over the
  last week.

Besides the signals (:mod:`tailguard.agents.signals`), the levers read it: the customers an
apology credit goes to and the locker a buffer is sent to.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import polars as pl
import pyarrow as pa

from tailguard.agents.signals.base import SignalConfig
from tailguard.agents.techdays import TechDays

EMPTY_BOOKINGS: Final = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "zip": pl.String,
        "hour": pl.Datetime("us", "UTC"),
        "n": pl.UInt32,
    }
)
EMPTY_SURVEYS: Final = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "tech_id": pl.String,
        "customer_id": pl.String,
        "ts": pl.Datetime("us", "UTC"),
        "nps": pl.Int64,
        "late": pl.Boolean,
    }
)
_EMPTY_LATE: Final = pl.DataFrame(schema={"job_id": pl.String, "ts": pl.Datetime("us", "UTC")})
#: Hours a late arrival is remembered for the survey of its job: a survey answered later than
#: this counts as on time (the simulated customers answer within 9 hours of the completion; real
#: survey tools chase for two or three days).
_LATE_MEMORY_HOURS: Final = 72
EMPTY_STOCK: Final = pl.DataFrame(
    schema={"area_id": pl.String, "locker_id": pl.String, "sku": pl.String, "on_hand": pl.Int64}
)
EMPTY_LEADS: Final = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "sku": pl.String,
        "ts": pl.Datetime("us", "UTC"),
        "lead_time_days": pl.Float64,
    }
)


class SignalMemory:
    """Rolling per-area memory of bookings, surveys and stock (all areas in one frame each).

    Attributes:
        config: the signals' thresholds (also how long the lead times are kept).
        now: the end of the last hour folded in (None before the first).
        bookings: ``area_id, zip, hour, n`` over the last 25 hours.
        surveys: ``area_id, tech_id, customer_id, ts, nps, late`` over the last 72 hours.
        stock: the latest ``on_hand`` of every (locker, SKU) with its area.
        leads: ``area_id, sku, ts, lead_time_days`` over the lead baseline and recent hours.
        tech_days: each tech's day by day history and hire date.
    """

    def __init__(self, config: SignalConfig | None = None) -> None:
        self.config = config or SignalConfig()
        self.bookings = EMPTY_BOOKINGS
        self.surveys = EMPTY_SURVEYS
        self._late = _EMPTY_LATE
        self.stock = EMPTY_STOCK
        self.leads = EMPTY_LEADS
        self.tech_days = TechDays(self.config)
        self.now: datetime | None = None
        self._emptiest: tuple[dict[tuple[str, str], str], dict[str, str]] | None = None

    def update(self, events: pa.Table | pl.DataFrame, now: datetime) -> None:
        """Fold in one hour of events (WIDE_SCHEMA) and forget what is too old at ``now``."""
        df = events if isinstance(events, pl.DataFrame) else pl.from_arrow(events)
        assert isinstance(df, pl.DataFrame)
        self.now = now
        self._emptiest = None
        hour = now - timedelta(hours=1)
        if df.height:
            booked = (
                df.filter(pl.col("type") == "job.booked")
                .group_by("area_id", "zip")
                .agg(pl.len().cast(pl.UInt32).alias("n"))
                .with_columns(pl.lit(hour).cast(pl.Datetime("us", "UTC")).alias("hour"))
                .select(EMPTY_BOOKINGS.columns)
            )
            # A survey is ``late`` when its job's completion said the tech arrived after the
            # window (the detractor cluster leaves those to the lateness entries).
            late = df.filter(
                (pl.col("type") == "job.completed")
                & (pl.col("arrived_at") > pl.col("window_end"))
                & pl.col("job_id").is_not_null()
            ).select("job_id", "ts")
            self._late = pl.concat([self._late, late])
            df = df.with_columns(
                (
                    (pl.col("type") == "cx.survey")
                    & pl.col("job_id").is_in(self._late["job_id"].implode())
                )
                .fill_null(False)
                .alias("late")
            )
            surveys = df.filter(pl.col("type") == "cx.survey").select(
                "area_id", "tech_id", "customer_id", "ts", pl.col("nps").cast(pl.Int64), "late"
            )
            stock = (
                df.filter(pl.col("type") == "parts.stock")
                .sort("ts")
                .select("area_id", "locker_id", "sku", pl.col("on_hand").cast(pl.Int64))
            )
            leads = df.filter(
                (pl.col("type") == "parts.stock") & pl.col("lead_time_days").is_not_null()
            ).select("area_id", "sku", "ts", pl.col("lead_time_days").cast(pl.Float64))
            self.bookings = pl.concat([self.bookings, booked])
            self.surveys = pl.concat([self.surveys, surveys])
            self.stock = pl.concat([self.stock, stock]).unique(
                subset=["locker_id", "sku"], keep="last", maintain_order=True
            )
            self.leads = pl.concat([self.leads, leads])
        self.bookings = self.bookings.filter(pl.col("hour") >= now - timedelta(hours=25))
        self.surveys = self.surveys.filter(pl.col("ts") > now - timedelta(hours=72))
        self._late = self._late.filter(pl.col("ts") > now - timedelta(hours=_LATE_MEMORY_HOURS))
        cfg = self.config
        keep = timedelta(hours=cfg.lead_baseline_hours + cfg.lead_recent_hours)
        self.leads = self.leads.filter(pl.col("ts") > now - keep)
        self.tech_days.update(df, now)

    def detractor_counts(self) -> pl.DataFrame:
        """Surveys per tech in the last 72 hours: ``area_id, tech_id, surveys_72h,
        detractors_72h, detractor_share``."""
        detractor = pl.col("nps") <= self.config.detractor_nps
        return (
            self.surveys.filter(pl.col("tech_id").is_not_null())
            .group_by("area_id", "tech_id")
            .agg(
                pl.len().cast(pl.Int64).alias("surveys_72h"),
                detractor.sum().cast(pl.Int64).alias("detractors_72h"),
            )
            .with_columns(
                (pl.col("detractors_72h") / pl.col("surveys_72h")).alias("detractor_share")
            )
            .sort("area_id", "tech_id")
        )

    def recent_detractors(self, area_id: str, *, hours: int = 48) -> list[str]:
        """Customers of the area who answered as detractors in the last ``hours``, newest first."""
        if self.now is None:
            return []
        rows = (
            self.surveys.filter(
                (pl.col("area_id") == area_id)
                & (pl.col("nps") <= self.config.detractor_nps)
                & (pl.col("ts") > self.now - timedelta(hours=hours))
                & pl.col("customer_id").is_not_null()
            )
            .sort("ts", descending=True)
            .get_column("customer_id")
            .unique(maintain_order=True)
        )
        return [str(c) for c in rows.to_list()]

    def recent_detractors_by_area(
        self, areas: list[str], *, hours: int = 48
    ) -> dict[str, list[str]]:
        """:meth:`recent_detractors` for many areas in one pass."""
        if self.now is None or not areas:
            return {}
        rows = (
            self.surveys.filter(
                pl.col("area_id").is_in(areas)
                & (pl.col("nps") <= self.config.detractor_nps)
                & (pl.col("ts") > self.now - timedelta(hours=hours))
                & pl.col("customer_id").is_not_null()
            )
            .sort("ts", descending=True)
            .unique(subset=["area_id", "customer_id"], keep="first", maintain_order=True)
        )
        out: dict[str, list[str]] = {}
        for area, customer in rows.select("area_id", "customer_id").iter_rows():
            out.setdefault(str(area), []).append(str(customer))
        return out

    def emptiest_locker(self, area_id: str, sku: str) -> str | None:
        """The area's locker with the least stock of ``sku``; if no locker reported the SKU,
        the area's emptiest locker of any SKU (None if none reported anything)."""
        by_sku, by_area = self.emptiest_lockers()
        return by_sku.get((area_id, sku), by_area.get(area_id))

    def emptiest_lockers(self) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
        """Every (area, SKU)'s emptiest locker and every area's, in one pass over the stock
        (ties go to the lower locker id); cached until the next :meth:`update`."""
        if self._emptiest is None:
            ranked = self.stock.sort("on_hand", "locker_id")
            by_sku = ranked.group_by("area_id", "sku").agg(pl.col("locker_id").first())
            by_area = ranked.group_by("area_id").agg(pl.col("locker_id").first())
            self._emptiest = (
                {(a, k): lk for a, k, lk in by_sku.iter_rows()},
                dict(by_area.iter_rows()),
            )
        return self._emptiest
