"""The money of each arm: gross profit per area from the completed jobs' own figures.

The scorecard keeps gross profit as a percentage of a rolling week; a manager asks how many
dollars the agents added, net of what their interventions cost. :class:`MoneyMeter` sums each
``job.completed`` event's revenue, parts cost and technician pay per area over the hours it is
fed (one meter per arm, fed the same hours). Per-job bonuses an intervention pays (surge pay, a
nearby-job offer's bonus, a first-time-fix bonus) are in the jobs' ``tech_pay`` already; what an
intervention commits up front (credits, premiums, expedites, SMS and sign-on fees) is not, and is
taken off separately (:func:`committed_spend`).
"""

from __future__ import annotations

from typing import Final

import polars as pl
import pyarrow as pa

__all__ = ["MONEY_SCHEMA", "MoneyMeter", "committed_spend"]

#: The columns of :meth:`MoneyMeter.frame`.
MONEY_SCHEMA: Final = {
    "area_id": pl.String,
    "jobs": pl.Int64,
    "revenue": pl.Float64,
    "parts_cost": pl.Float64,
    "tech_pay": pl.Float64,
    "gp_usd": pl.Float64,
}


class MoneyMeter:
    """Revenue, parts cost, technician pay and gross profit per area over the hours fed."""

    def __init__(self) -> None:
        self._hours: list[pl.DataFrame] = []

    def ingest(self, events: pa.Table | None) -> None:
        """Add one batch of events (any types; only completed jobs carry money)."""
        if events is None or events.num_rows == 0:
            return
        frame = pl.from_arrow(
            events.select(["type", "area_id", "revenue", "parts_cost", "tech_pay"])
        )
        assert isinstance(frame, pl.DataFrame)
        done = frame.filter(pl.col("type") == "job.completed")
        if done.is_empty():
            return
        self._hours.append(
            done.group_by("area_id").agg(
                pl.len().cast(pl.Int64).alias("jobs"),
                *(
                    pl.col(c).fill_null(0.0).sum().alias(c)
                    for c in ("revenue", "parts_cost", "tech_pay")
                ),
            )
        )
        # Fold as it goes: a run of weeks is thousands of hours of a few rows each.
        if len(self._hours) >= 168:
            self._hours = [self._fold()]

    def _fold(self) -> pl.DataFrame:
        if not self._hours:
            return pl.DataFrame(schema={k: v for k, v in MONEY_SCHEMA.items() if k != "gp_usd"})
        return (
            pl.concat(self._hours)
            .group_by("area_id")
            .agg(
                pl.col("jobs").sum(),
                *(pl.col(c).sum() for c in ("revenue", "parts_cost", "tech_pay")),
            )
        )

    def frame(self) -> pl.DataFrame:
        """One row per area with completed jobs: the sums and ``gp_usd`` (revenue less parts
        cost less technician pay), sorted by area."""
        return (
            self._fold()
            .with_columns(
                (pl.col("revenue") - pl.col("parts_cost") - pl.col("tech_pay")).alias("gp_usd")
            )
            .select(list(MONEY_SCHEMA))
            .sort("area_id")
        )


def committed_spend(decisions: pl.DataFrame) -> pl.DataFrame:
    """Per area, the money the executed interventions committed (``area_id``, ``spend_usd``):
    the self-learn store's ``cost_usd`` of each executed decision (held, refused and failed
    decisions spent nothing)."""
    if decisions.is_empty() or "cost_usd" not in decisions.columns:
        return pl.DataFrame(schema={"area_id": pl.String, "spend_usd": pl.Float64})
    return (
        decisions.filter(pl.col("status") == "executed")
        .group_by("area_id")
        .agg(pl.col("cost_usd").fill_null(0.0).sum().cast(pl.Float64).alias("spend_usd"))
        .sort("area_id")
    )
