"""``demand_surge``: a zip whose bookings this hour are well above its usual hourly rate."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

import polars as pl

from tailguard.agents.signals.base import SignalSpec
from tailguard.agents.signals.memory import SignalMemory

NO_SURGE: Final = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "zip": pl.String,
        "bookings_1h": pl.UInt32,
        "usual_per_hour": pl.Float64,
        "surge_ratio": pl.Float64,
    }
)


class DemandSurge:
    """Surging zips now: ``area_id, zip, bookings_1h, usual_per_hour, surge_ratio``.

    A zip surges when its bookings this hour reach ``surge_ratio`` times its usual hourly rate
    and at least ``surge_min_bookings`` (:class:`~.base.SignalConfig`). Nothing surges before
    24 hours of bookings have been seen.
    """

    name = "demand_surge"
    spec = SignalSpec(unit="zip", id_column="zip", value="surge_ratio", worst="max")

    def compute(self, memory: SignalMemory) -> pl.DataFrame:
        """The surging zips of every area (see the class)."""
        bookings = memory.bookings
        if memory.now is None or bookings.is_empty():
            return NO_SURGE
        last = memory.now - timedelta(hours=1)
        cfg = memory.config
        recent = bookings.filter(pl.col("hour") == last).select(
            "area_id", "zip", pl.col("n").alias("bookings_1h")
        )
        if bookings["hour"].min() > last - timedelta(hours=24):  # type: ignore[operator]
            return NO_SURGE
        # The usual rate: the busier of the last 24 hours' mean and the same hour yesterday
        # (bookings follow the clock), so a normal morning peak is not a surge.
        yesterday = last - timedelta(hours=24)
        usual = (
            bookings.filter(pl.col("hour") < last)
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


SIGNAL: Final = DemandSurge()
