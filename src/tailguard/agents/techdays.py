"""Each tech's day by day history, for the agent's per-tech signals (all areas in one frame).

Per (area, tech, day): pay and jobs (``job.completed``), whether the tech worked (a shift
started, ``tech.status`` available, or a job was done), surveys and detractors (``cx.survey``,
of jobs the tech reached on time: a late arrival's detractor is the lateness's, not the
tech's workmanship; the signals mark those surveys ``late``).
Hourly rows are appended as events arrive and folded into one row per (area, tech, day) once a
day, keeping three weeks. What is computed from closed days (a tech's usual detractor share,
earnings declines) is computed once per day and cached.

Besides, each tech's hire date when the stream tells it: an optional ``hired_on`` field
(``YYYY-MM-DD``) on ``tech.status`` events, an extension of the event contract (INTERFACES.md
keeps extra fields in ``extra``; docs/agents.md, "Detractor clusters"). The simulator emits it; a stream
without it leaves every tech's tenure unknown.
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
EMPTY_HIRES: Final = pl.DataFrame(
    schema={"area_id": pl.String, "tech_id": pl.String, "hired_on": pl.Date}
)
#: The usual detractor history of techs (:meth:`TechDays.usual_detractors`).
EMPTY_USUAL: Final = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "tech_id": pl.String,
        "base_surveys": pl.Int64,
        "base_detractors": pl.Int64,
    }
)
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
        self.hires = EMPTY_HIRES
        self._told = pl.DataFrame(
            schema={"area_id": pl.String, "tech_id": pl.String, "extra": pl.String}
        )
        self._folded: date | None = None
        self._declines: tuple[date, pl.DataFrame] | None = None
        self._usual: tuple[date, tuple[pl.DataFrame, pl.DataFrame]] | None = None

    def update(self, df: pl.DataFrame, now: datetime) -> None:
        """Fold in one hour of events; once a day, fold the hourly rows and forget old days."""
        if df.height:
            self.days = pl.concat([self.days, self._rows(df)])
            self._hires(df)
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

    def _hires(self, df: pl.DataFrame) -> None:
        """Keep the ``hired_on`` of each tech's latest ``tech.status`` (none if it has none).

        Only statuses whose ``extra`` differs from the tech's last one are parsed (a tech's
        statuses repeat the same hire date all day).
        """
        keys = ["area_id", "tech_id"]
        told = (
            df.filter(
                (pl.col("type") == "tech.status")
                & pl.col("tech_id").is_not_null()
                & pl.col("extra").is_not_null()
            )
            .sort("ts")
            .unique(subset=keys, keep="last", maintain_order=True)
            .select(*keys, "extra")
            .join(self._told, on=[*keys, "extra"], how="anti")
        )
        if told.is_empty():
            return
        self._told = pl.concat([self._told.join(told, on=keys, how="anti"), told])
        hired = told.select(
            *keys,
            pl.col("extra")
            .str.json_path_match("$.hired_on")
            .str.to_date("%Y-%m-%d", strict=False)
            .alias("hired_on"),
        ).drop_nulls("hired_on")
        self.hires = pl.concat([self.hires.join(told, on=keys, how="anti"), hired])

    def _rows(self, df: pl.DataFrame) -> pl.DataFrame:
        if "late" not in df.columns:
            df = df.with_columns(pl.lit(False).alias("late"))
        tech = df.filter(
            pl.col("tech_id").is_not_null()
            & pl.col("type").is_in(["job.completed", "tech.status", "cx.survey"])
        )
        if tech.is_empty():
            return EMPTY_DAYS
        done = pl.col("type") == "job.completed"
        # Surveys of jobs reached late (``late``, set by the signals) are not the tech's usual.
        survey = (pl.col("type") == "cx.survey") & ~pl.col("late").fill_null(False)
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

    def usual_detractors(self, today: date) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Each tech's detractor history before the current episode, and the area's (cached).

        Over the ``detractor_baseline_days`` days before the last three (so a cluster being
        tested is not its own baseline): ``area_id, tech_id, base_surveys, base_detractors``
        for techs with baseline surveys, and ``area_id, area_share`` (the area's detractor
        share of those days, what a tech is expected to get before their own history counts).
        """
        if self._usual is not None and self._usual[0] == today:
            return self._usual[1]
        cfg = self.config
        hi = today - timedelta(days=3)
        lo = hi - timedelta(days=cfg.detractor_baseline_days)
        base = self.days.filter((pl.col("day") >= lo) & (pl.col("day") < hi))
        techs = (
            base.group_by("area_id", "tech_id")
            .agg(
                pl.col("surveys").sum().alias("base_surveys"),
                pl.col("detractors").sum().alias("base_detractors"),
            )
            .filter(pl.col("base_surveys") > 0)
            .select(EMPTY_USUAL.columns)
        )
        area = (
            techs.group_by("area_id")
            .agg(
                (pl.col("base_detractors").sum() / pl.col("base_surveys").sum()).alias("area_share")
            )
            .select("area_id", pl.col("area_share").cast(pl.Float64))
        )
        self._usual = (today, (techs, area))
        return techs, area

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
