"""What the area agents remember from the event stream besides the scorecard.

The scorecard answers "which KPI is in the tail"; choosing a target needs a little more, kept
here as small rolling Polars frames updated once per hour for all areas at once:

* bookings per zip and hour over the last 25 hours, for the ``demand_surge`` signal (a zip's
  bookings this hour against its usual hourly rate);
* surveys of the last 72 hours with customer and tech, for the
  ``detractor_cluster`` signal and the customers an apology credit goes to;
* the latest stock of every (locker, SKU), for the locker a buffer is sent to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl
import pyarrow as pa

_EMPTY_BOOKINGS = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "zip": pl.String,
        "hour": pl.Datetime("us", "UTC"),
        "n": pl.UInt32,
    }
)
_EMPTY_DETRACTORS = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "tech_id": pl.String,
        "customer_id": pl.String,
        "ts": pl.Datetime("us", "UTC"),
        "nps": pl.Int64,
    }
)
_EMPTY_STOCK = pl.DataFrame(
    schema={"area_id": pl.String, "locker_id": pl.String, "sku": pl.String, "on_hand": pl.Int64}
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalConfig:
    """Thresholds of the agent's own signals.

    Attributes:
        surge_ratio: a zip surges when its bookings this hour reach this multiple of its mean
            hourly bookings over the previous 24 hours...
        surge_min_bookings: ...and are at least this many.
        detractor_cluster: a tech with at least this many detractor surveys in 72 hours...
        detractor_share: ...making up at least this share of the tech's surveys.
        detractor_nps: the highest NPS that counts as a detractor.
    """

    surge_ratio: float = 3.0
    surge_min_bookings: int = 6
    detractor_cluster: int = 4
    detractor_share: float = 0.6
    detractor_nps: int = 6


class Signals:
    """Rolling per-area memory of bookings, detractors and stock (all areas in one frame)."""

    def __init__(self, config: SignalConfig | None = None) -> None:
        self.config = config or SignalConfig()
        self._bookings = _EMPTY_BOOKINGS
        self._detractors = _EMPTY_DETRACTORS
        self._stock = _EMPTY_STOCK
        self._now: datetime | None = None

    def update(self, events: pa.Table | pl.DataFrame, now: datetime) -> None:
        """Fold in one hour of events (WIDE_SCHEMA) and forget what is too old at ``now``."""
        df = events if isinstance(events, pl.DataFrame) else pl.from_arrow(events)
        assert isinstance(df, pl.DataFrame)
        self._now = now
        hour = now - timedelta(hours=1)
        if df.height:
            booked = (
                df.filter(pl.col("type") == "job.booked")
                .group_by("area_id", "zip")
                .agg(pl.len().cast(pl.UInt32).alias("n"))
                .with_columns(pl.lit(hour).cast(pl.Datetime("us", "UTC")).alias("hour"))
                .select(_EMPTY_BOOKINGS.columns)
            )
            surveys = df.filter(pl.col("type") == "cx.survey").select(
                "area_id", "tech_id", "customer_id", "ts", pl.col("nps").cast(pl.Int64)
            )
            stock = (
                df.filter(pl.col("type") == "parts.stock")
                .sort("ts")
                .select("area_id", "locker_id", "sku", pl.col("on_hand").cast(pl.Int64))
            )
            self._bookings = pl.concat([self._bookings, booked])
            self._detractors = pl.concat([self._detractors, surveys])
            self._stock = pl.concat([self._stock, stock]).unique(
                subset=["locker_id", "sku"], keep="last", maintain_order=True
            )
        self._bookings = self._bookings.filter(pl.col("hour") >= now - timedelta(hours=25))
        self._detractors = self._detractors.filter(pl.col("ts") > now - timedelta(hours=72))

    @staticmethod
    def _no_surge() -> pl.DataFrame:
        return pl.DataFrame(
            schema={
                "area_id": pl.String,
                "zip": pl.String,
                "bookings_1h": pl.UInt32,
                "usual_per_hour": pl.Float64,
                "surge_ratio": pl.Float64,
            }
        )

    def demand_surges(self) -> pl.DataFrame:
        """Surging zips now: ``area_id, zip, bookings_1h, usual_per_hour, surge_ratio``.

        Nothing surges before 24 hours of bookings have been seen.
        """
        if self._now is None or self._bookings.is_empty():
            return self._no_surge()
        last = self._now - timedelta(hours=1)
        cfg = self.config
        recent = self._bookings.filter(pl.col("hour") == last).select(
            "area_id", "zip", pl.col("n").alias("bookings_1h")
        )
        if self._bookings["hour"].min() > last - timedelta(hours=24):  # type: ignore[operator]
            return self._no_surge()
        # The usual rate: the busier of the last 24 hours' mean and the same hour yesterday
        # (bookings follow the clock), so a normal morning peak is not a surge.
        yesterday = last - timedelta(hours=24)
        usual = (
            self._bookings.filter(pl.col("hour") < last)
            .group_by("area_id", "zip")
            .agg(
                pl.max_horizontal(
                    pl.col("n").sum() / 24.0,
                    pl.col("n").filter(pl.col("hour") == yesterday).sum(),
                ).alias("usual_per_hour")
            )
        )
        return (
            recent.join(usual, on=["area_id", "zip"], how="left")
            .with_columns(pl.col("usual_per_hour").fill_null(0.0))
            .with_columns(
                (pl.col("bookings_1h") / pl.max_horizontal("usual_per_hour", pl.lit(0.25))).alias(
                    "surge_ratio"
                )
            )
            .filter(
                (pl.col("bookings_1h") >= cfg.surge_min_bookings)
                & (pl.col("surge_ratio") >= cfg.surge_ratio)
            )
            .sort("area_id", "zip")
        )

    def detractor_counts(self) -> pl.DataFrame:
        """Surveys per tech in the last 72 hours: ``area_id, tech_id, surveys_72h,
        detractors_72h, detractor_share``."""
        detractor = pl.col("nps") <= self.config.detractor_nps
        return (
            self._detractors.filter(pl.col("tech_id").is_not_null())
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

    def detractor_clusters(self) -> pl.DataFrame:
        """Techs with a detractor cluster now: enough detractors, and most of their surveys."""
        cfg = self.config
        return self.detractor_counts().filter(
            (pl.col("detractors_72h") >= cfg.detractor_cluster)
            & (pl.col("detractor_share") >= cfg.detractor_share)
        )

    def recent_detractors(self, area_id: str, *, hours: int = 48) -> list[str]:
        """Customers of the area who answered as detractors in the last ``hours``, newest first."""
        if self._now is None:
            return []
        rows = (
            self._detractors.filter(
                (pl.col("area_id") == area_id)
                & (pl.col("nps") <= self.config.detractor_nps)
                & (pl.col("ts") > self._now - timedelta(hours=hours))
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
        if self._now is None or not areas:
            return {}
        rows = (
            self._detractors.filter(
                pl.col("area_id").is_in(areas)
                & (pl.col("nps") <= self.config.detractor_nps)
                & (pl.col("ts") > self._now - timedelta(hours=hours))
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
        """The area's locker with the least stock of ``sku`` (None if no locker reported it)."""
        rows = self._stock.filter((pl.col("area_id") == area_id) & (pl.col("sku") == sku)).sort(
            "on_hand", "locker_id"
        )
        if rows.is_empty():
            rows = self._stock.filter(pl.col("area_id") == area_id).sort("on_hand", "locker_id")
        return None if rows.is_empty() else str(rows["locker_id"][0])
