"""Each tech's day by day history, for the agent's per-tech signals (all areas in one frame).

Per (area, tech, day): pay and jobs (``job.completed``), whether the tech worked (a shift
started, ``tech.status`` available, or a job was done), surveys and detractors (``cx.survey``).
Hourly rows are appended as events arrive and folded into one row per (area, tech, day) once a
day, keeping three weeks. What is computed from closed days (a tech's usual detractor share,
earnings declines) is computed once per day and cached.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Final

import polars as pl

if TYPE_CHECKING:
    from tailguard.agents.signals import SignalConfig

EMPTY_DAYS: Final = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "tech_id": pl.String,
        "day": pl.Date,
        "pay": pl.Float64,
        "jobs": pl.Int64,
        "worked": pl.Int64,
        "surveys": pl.Int64,
        "detractors": pl.Int64,
    }
)
_KEYS: Final = ("area_id", "tech_id", "day")
#: Days of history kept (covers every baseline of :class:`SignalConfig`'s defaults).
DAYS_KEPT: Final = 21
NO_DECLINE: Final = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "tech_id": pl.String,
        "recent_pay_per_day": pl.Float64,
        "usual_pay_per_day": pl.Float64,
        "pace_ratio": pl.Float64,
        "pay_7d": pl.Float64,
        "area_pay_7d_bottom": pl.Float64,
    }
)


class TechDays:
    """The per-tech daily history and what the signals read from it."""

    def __init__(self, config: SignalConfig) -> None:
        self.config = config
        self.days = EMPTY_DAYS
        self._folded: date | None = None
        self._declines: tuple[date, pl.DataFrame] | None = None
        self._usual: tuple[date, pl.DataFrame] | None = None

    def update(self, df: pl.DataFrame, now: datetime) -> None:
        """Fold in one hour of events; once a day, fold the hourly rows and forget old days."""
        if df.height:
            self.days = pl.concat([self.days, self._rows(df)])
        today = now.date()
        if self._folded != today:
            self._folded = today
            self.days = (
                self.days.filter(pl.col("day") >= today - timedelta(days=DAYS_KEPT))
                .group_by(*_KEYS)
                .agg(
                    pl.col("pay").sum(),
                    pl.col("jobs").sum(),
                    pl.col("worked").max(),
                    pl.col("surveys").sum(),
                    pl.col("detractors").sum(),
                )
                .select(EMPTY_DAYS.columns)
            )

    def _rows(self, df: pl.DataFrame) -> pl.DataFrame:
        tech = df.filter(
            pl.col("tech_id").is_not_null()
            & pl.col("type").is_in(["job.completed", "tech.status", "cx.survey"])
        )
        if tech.is_empty():
            return EMPTY_DAYS
        done = pl.col("type") == "job.completed"
        survey = pl.col("type") == "cx.survey"
        started = (pl.col("type") == "tech.status") & (pl.col("status") == "available")
        return (
            tech.with_columns(pl.col("ts").dt.date().alias("day"))
            .group_by(*_KEYS)
            .agg(
                pl.col("tech_pay").filter(done).sum().cast(pl.Float64).alias("pay"),
                done.sum().cast(pl.Int64).alias("jobs"),
                (started | done).any().cast(pl.Int64).alias("worked"),
                survey.sum().cast(pl.Int64).alias("surveys"),
                (survey & (pl.col("nps") <= self.config.detractor_nps))
                .sum()
                .cast(pl.Int64)
                .alias("detractors"),
            )
            .select(EMPTY_DAYS.columns)
        )

    def usual_detractor_shares(self, today: date) -> pl.DataFrame:
        """Each tech's usual detractor share, shrunk towards the area's (cached per day).

        ``area_id, tech_id, usual_share`` over the ``detractor_baseline_days`` days before the
        last three, for techs with baseline surveys; and the area's own share under a null
        ``tech_id`` (what a tech without history is expected to get).
        """
        if self._usual is not None and self._usual[0] == today:
            return self._usual[1]
        cfg = self.config
        hi = today - timedelta(days=3)
        lo = hi - timedelta(days=cfg.detractor_baseline_days)
        base = self.days.filter((pl.col("day") >= lo) & (pl.col("day") < hi))
        area = base.group_by("area_id").agg(
            (pl.col("detractors").sum() / pl.col("surveys").sum().clip(1)).alias("area_share")
        )
        k = cfg.detractor_prior_surveys
        techs = (
            base.group_by("area_id", "tech_id")
            .agg(pl.col("surveys").sum(), pl.col("detractors").sum())
            .join(area, on="area_id")
            .select(
                "area_id",
                "tech_id",
                ((pl.col("detractors") + k * pl.col("area_share")) / (pl.col("surveys") + k)).alias(
                    "usual_share"
                ),
            )
        )
        usual = pl.concat(
            [
                techs,
                area.select(
                    "area_id",
                    pl.lit(None, pl.String).alias("tech_id"),
                    pl.col("area_share").alias("usual_share"),
                ),
            ]
        )
        self._usual = (today, usual)
        return usual

    def earnings_declines(self, today: date) -> pl.DataFrame:
        """Bottom earners whose pay per worked day fell well below their own pace (cached).

        Columns of :data:`NO_DECLINE`; see ``SignalConfig.earnings_*``. Only closed days count.
        """
        if self._declines is None or self._declines[0] != today:
            self._declines = (today, self._earnings_declines(today))
        return self._declines[1]

    def _earnings_declines(self, today: date) -> pl.DataFrame:
        cfg = self.config
        closed = self.days.filter(pl.col("day") < today)
        if closed.is_empty():
            return NO_DECLINE
        week = closed.filter(pl.col("day") >= today - timedelta(days=7))
        pay_7d = (
            week.group_by("area_id", "tech_id")
            .agg(pl.col("pay").sum().alias("pay_7d"), pl.col("worked").max())
            .filter(pl.col("worked") > 0)
            .with_columns(
                pl.col("pay_7d")
                .quantile(cfg.earnings_bottom_quantile, "linear")
                .over("area_id")
                .alias("area_pay_7d_bottom")
            )
            .filter(pl.col("pay_7d") <= pl.col("area_pay_7d_bottom"))
            .drop("worked")
        )
        recent_n = cfg.earnings_recent_days
        worked = (
            closed.group_by(*_KEYS)
            .agg(pl.col("pay").sum(), pl.col("worked").max())
            .filter(pl.col("worked") > 0)
            .join(pay_7d.select("area_id", "tech_id"), on=["area_id", "tech_id"], how="semi")
            .with_columns(
                pl.col("day")
                .rank("ordinal", descending=True)
                .over("area_id", "tech_id")
                .alias("nth")
            )
            .filter(pl.col("nth") <= recent_n + cfg.earnings_baseline_days)
        )
        is_recent = pl.col("nth") <= recent_n
        return (
            worked.group_by("area_id", "tech_id")
            .agg(
                pl.col("pay").filter(is_recent).mean().alias("recent_pay_per_day"),
                pl.col("pay").filter(~is_recent).mean().alias("usual_pay_per_day"),
                is_recent.sum().alias("recent_days"),
                (~is_recent).sum().alias("usual_days"),
            )
            .filter(
                (pl.col("recent_days") == recent_n)
                & (pl.col("usual_days") >= cfg.earnings_min_baseline_days)
                & (
                    pl.col("recent_pay_per_day")
                    <= cfg.earnings_decline_ratio * pl.col("usual_pay_per_day")
                )
                & (
                    pl.col("usual_pay_per_day") - pl.col("recent_pay_per_day")
                    >= cfg.earnings_decline_floor_usd
                )
            )
            .join(pay_7d, on=["area_id", "tech_id"])
            .with_columns(
                (pl.col("recent_pay_per_day") / pl.col("usual_pay_per_day")).alias("pace_ratio")
            )
            .select(NO_DECLINE.columns)
            .sort("area_id", "tech_id")
        )
