"""What the area agents remember from the event stream besides the scorecard.

The scorecard answers "which KPI is in the tail"; choosing a target needs a little more, kept
here as small rolling Polars frames updated once per hour for all areas at once:

* bookings per zip and hour over the last 25 hours, for the ``demand_surge`` signal (a zip's
  bookings this hour against its usual hourly rate);
* surveys of the last 72 hours with customer and tech, each tech's surveys and detractors
  per day and their hire date when the stream tells it (:mod:`.techdays`), for the
  ``detractor_cluster`` signal (more detractors around one rookie than the tech's own usual
  share explains) and the customers an apology credit goes to;
* the latest stock of every (locker, SKU), for the locker a buffer is sent to, and the lead
  times the stock events quote over the last week, for the ``sku_lead_time_spike`` signal (a
  SKU's P95 lead time of the last hours against its own P95 of the week before);
* each tech's pay, jobs and worked days per day over three weeks (:mod:`.techdays`), for the
  ``earnings_decline`` signal (a bottom earner whose pay per worked day fell well below their
  own usual pace).

Every signal is computed for all areas at once; the daily ones only when a day has closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

import polars as pl
import pyarrow as pa

from tailguard.agents.chance import beta_binomial_tail
from tailguard.agents.techdays import NO_DECLINE, TechDays


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalSpec:
    """What a signal names and how an area's value is summarised.

    Attributes:
        unit: the unit type it names (an entry it triggers must target this unit).
        id_column: the unit's id column in the signal's frame.
        value: the column whose worst value over the area is the trigger's value.
        worst: ``max`` or ``min`` (which end of ``value`` is worst).
    """

    unit: Literal["tech", "zip", "sku"]
    id_column: str
    value: str
    worst: Literal["max", "min"]


#: The signals the hourly tick computes itself, by trigger name.
SIGNAL_SPECS: Final[Mapping[str, SignalSpec]] = {
    "demand_surge": SignalSpec(unit="zip", id_column="zip", value="surge_ratio", worst="max"),
    "detractor_cluster": SignalSpec(
        unit="tech", id_column="tech_id", value="detractor_excess", worst="max"
    ),
    "sku_lead_time_spike": SignalSpec(
        unit="sku", id_column="sku", value="lead_spike_ratio", worst="max"
    ),
    "earnings_decline": SignalSpec(
        unit="tech", id_column="tech_id", value="pace_ratio", worst="min"
    ),
}

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
        "late": pl.Boolean,
    }
)
_EMPTY_LATE = pl.DataFrame(schema={"job_id": pl.String, "ts": pl.Datetime("us", "UTC")})
#: Hours a late arrival is remembered for the survey of its job: a survey answered later than
#: this counts as on time (the simulated customers answer within 9 hours of the completion; real
#: survey tools chase for two or three days).
_LATE_MEMORY_HOURS = 72
_EMPTY_STOCK = pl.DataFrame(
    schema={"area_id": pl.String, "locker_id": pl.String, "sku": pl.String, "on_hand": pl.Int64}
)
_EMPTY_LEADS = pl.DataFrame(
    schema={
        "area_id": pl.String,
        "sku": pl.String,
        "ts": pl.Datetime("us", "UTC"),
        "lead_time_days": pl.Float64,
    }
)
#: The detractor share a tech is expected to have when neither they nor their area has any
#: baseline yet (the agent just started).
_NO_HISTORY_SHARE = 0.2
#: Usual shares are kept inside [_MIN_SHARE, 1 - _MIN_SHARE] (a tech whose customers never
#: complained is not a cluster at their first detractor).
_MIN_SHARE = 0.02
#: The rest of an area's detractor share in the cluster's hours is shrunk towards the area's usual
#: share by this many pseudo-surveys before it counts as a wave (``SignalConfig.detractor_chance``).
_WAVE_PRIOR_SURVEYS = 20.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SignalConfig:
    """Thresholds of the agent's own signals.

    Attributes:
        surge_ratio: a zip surges when its bookings this hour reach this multiple of its mean
            hourly bookings over the previous 24 hours...
        surge_min_bookings: ...and are at least this many.
        detractor_nps: the highest NPS that counts as a detractor.
        detractor_hours: a detractor cluster is counted over this many recent hours:
        detractor_cluster: a tech with at least this many detractor surveys...
        detractor_chance: ...that their usual detractor share would give with at most this
            probability, divided by the number of techs of the area tested at once
            (Bonferroni: the chance of a false cluster anywhere in the area in one check is at
            most this). The usual share is estimated from the tech's surveys over the
            ``detractor_baseline_days`` days before the last three (the current episode is not
            its own baseline) with ``detractor_prior_surveys`` pseudo-surveys at the area's
            share of those days, and its uncertainty is kept: the count is judged by the
            Beta-binomial posterior predictive (:mod:`.chance`), so a tech with little history
            needs more evidence than one whose customers were content for weeks. A wave across
            the area is no cluster around one tech: when the rest of the area's detractor odds
            in those hours (shrunk towards the usual by 20 pseudo-surveys) are above the area's
            usual odds, every tech's usual odds are raised by that ratio.
        detractor_baseline_days: see ``detractor_chance``.
        detractor_prior_surveys: see ``detractor_chance``.
        detractor_rookie_days: in an area whose stream tells hire dates (``hired_on`` on
            ``tech.status``), only techs hired at most this many days ago are tested (the
            family of the Bonferroni bound): the master-tech shadow a cluster calls for coaches
            rookies, and a veteran's customers are not helped by it (nor is the veteran). In an
            area without hire dates every tech is tested. None: every tech everywhere.
        lead_recent_hours: a SKU's lead time spikes in an area when the P95 of the lead times
            its stock events quoted in the last this many hours...
        lead_spike_ratio: ...is at least this multiple of the SKU's own P95 over the
            ``lead_baseline_hours`` before...
        lead_spike_floor_days: ...and at least this many days longer...
        lead_baseline_hours: see ``lead_spike_ratio``.
        lead_min_baseline: ...with at least this many events in the baseline (a SKU the agent
            has not seen for long has no usual lead time yet).
        earnings_recent_days: a tech's earnings decline when the mean pay of their last this
            many worked days (closed days only)...
        earnings_decline_ratio: ...is at most this share of their mean pay per worked day over
            the ``earnings_baseline_days`` worked days before...
        earnings_decline_floor_usd: ...and at least this many dollars a day lower...
        earnings_baseline_days: see ``earnings_decline_ratio``.
        earnings_min_baseline_days: ...with at least this many baseline worked days...
        earnings_bottom_quantile: ...and the tech's pay over the last 7 closed days is at or
            below this quantile of the area's techs who worked in them (the product
            document's P10 earner).
    """

    surge_ratio: float = 3.0
    surge_min_bookings: int = 6
    detractor_nps: int = 6
    detractor_hours: int = 48
    detractor_cluster: int = 3
    detractor_chance: float = 0.05
    detractor_baseline_days: int = 7
    detractor_prior_surveys: float = 5.0
    detractor_rookie_days: int | None = 365
    lead_recent_hours: int = 6
    lead_spike_ratio: float = 2.0
    lead_spike_floor_days: float = 2.0
    lead_baseline_hours: int = 168
    lead_min_baseline: int = 3
    earnings_recent_days: int = 2
    earnings_decline_ratio: float = 0.5
    earnings_decline_floor_usd: float = 40.0
    earnings_baseline_days: int = 5
    earnings_min_baseline_days: int = 3
    earnings_bottom_quantile: float = 0.10


class Signals:
    """Rolling per-area memory of bookings, detractors and stock (all areas in one frame)."""

    def __init__(self, config: SignalConfig | None = None) -> None:
        self.config = config or SignalConfig()
        self._bookings = _EMPTY_BOOKINGS
        self._detractors = _EMPTY_DETRACTORS
        self._late = _EMPTY_LATE
        self._stock = _EMPTY_STOCK
        self._leads = _EMPTY_LEADS
        self.tech_days = TechDays(self.config)
        self._now: datetime | None = None
        self._emptiest: tuple[dict[tuple[str, str], str], dict[str, str]] | None = None

    def update(self, events: pa.Table | pl.DataFrame, now: datetime) -> None:
        """Fold in one hour of events (WIDE_SCHEMA) and forget what is too old at ``now``."""
        df = events if isinstance(events, pl.DataFrame) else pl.from_arrow(events)
        assert isinstance(df, pl.DataFrame)
        self._now = now
        self._emptiest = None
        hour = now - timedelta(hours=1)
        if df.height:
            booked = (
                df.filter(pl.col("type") == "job.booked")
                .group_by("area_id", "zip")
                .agg(pl.len().cast(pl.UInt32).alias("n"))
                .with_columns(pl.lit(hour).cast(pl.Datetime("us", "UTC")).alias("hour"))
                .select(_EMPTY_BOOKINGS.columns)
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
            self._bookings = pl.concat([self._bookings, booked])
            self._detractors = pl.concat([self._detractors, surveys])
            self._stock = pl.concat([self._stock, stock]).unique(
                subset=["locker_id", "sku"], keep="last", maintain_order=True
            )
            self._leads = pl.concat([self._leads, leads])
        self._bookings = self._bookings.filter(pl.col("hour") >= now - timedelta(hours=25))
        self._detractors = self._detractors.filter(pl.col("ts") > now - timedelta(hours=72))
        self._late = self._late.filter(pl.col("ts") > now - timedelta(hours=_LATE_MEMORY_HOURS))
        cfg = self.config
        keep = timedelta(hours=cfg.lead_baseline_hours + cfg.lead_recent_hours)
        self._leads = self._leads.filter(pl.col("ts") > now - keep)
        self.tech_days.update(df, now)

    def current(self) -> dict[str, pl.DataFrame]:
        """Every signal now, by trigger name (frames as the methods below return them)."""
        return {
            "demand_surge": self.demand_surges(),
            "detractor_cluster": self.detractor_clusters(),
            "sku_lead_time_spike": self.sku_lead_time_spikes(),
            "earnings_decline": self.earnings_declines(),
        }

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
        """Techs with a detractor cluster now.

        ``area_id, tech_id, surveys, detractors, usual_share, expected, detractor_excess,
        chance``: at least ``detractor_cluster`` detractors in the last ``detractor_hours``,
        with a ``chance`` (Beta-binomial posterior predictive over the tech's surveys in those
        hours) of at most ``detractor_chance`` over the number of techs tested in the area.
        ``usual_share`` is the predictive mean (the tech's usual share, raised by an area-wide
        wave), ``expected`` that times the surveys and ``detractor_excess`` the detractors
        beyond it. Which techs are tested, and why: see :class:`SignalConfig`.
        """
        cfg = self.config
        empty = pl.DataFrame(
            schema={
                "area_id": pl.String,
                "tech_id": pl.String,
                "surveys": pl.Int64,
                "detractors": pl.Int64,
                "usual_share": pl.Float64,
                "expected": pl.Float64,
                "detractor_excess": pl.Float64,
                "chance": pl.Float64,
            }
        )
        if self._now is None:
            return empty
        since = self._now - timedelta(hours=cfg.detractor_hours)
        recent = (
            self._detractors.filter(
                pl.col("tech_id").is_not_null() & (pl.col("ts") > since) & ~pl.col("late")
            )
            .group_by("area_id", "tech_id")
            .agg(
                pl.len().cast(pl.Int64).alias("surveys"),
                (pl.col("nps") <= cfg.detractor_nps).sum().cast(pl.Int64).alias("detractors"),
            )
        )
        now_share = recent.group_by("area_id").agg(
            pl.col("detractors").sum().alias("area_det"),
            pl.col("surveys").sum().alias("area_n"),
        )
        tested = self._tested(recent)
        family = tested.group_by("area_id").agg(pl.len().alias("family"))
        recent = tested.filter(pl.col("detractors") >= cfg.detractor_cluster)
        if recent.is_empty():
            return empty
        own, area = self.tech_days.usual_detractors(self._now.date())
        k = cfg.detractor_prior_surveys
        odds = pl.col("mean") / (1.0 - pl.col("mean"))
        found = (
            recent.join(own, on=["area_id", "tech_id"], how="left")
            .join(area, on="area_id", how="left")
            .join(now_share, on="area_id", how="left")
            .join(family, on="area_id", how="left")
            .with_columns(
                pl.col("base_surveys").fill_null(0),
                pl.col("base_detractors").fill_null(0),
                pl.col("area_share")
                .fill_null(_NO_HISTORY_SHARE)
                .clip(_MIN_SHARE, 1.0 - _MIN_SHARE)
                .alias("prior"),
                # The rest of the area in the same hours (without this tech), shrunk towards
                # the area's usual share (a small area's few answers are no wave).
                (
                    (
                        pl.col("area_det")
                        - pl.col("detractors")
                        + _WAVE_PRIOR_SURVEYS * pl.col("area_share").fill_null(_NO_HISTORY_SHARE)
                    )
                    / (pl.col("area_n") - pl.col("surveys") + _WAVE_PRIOR_SURVEYS)
                )
                .clip(_MIN_SHARE, 1.0 - _MIN_SHARE)
                .alias("rest_share"),
            )
            .with_columns(  # the posterior of the tech's usual share: Beta(a, b), a + b = s
                (pl.col("base_surveys") + k).alias("s"),
                ((pl.col("base_detractors") + k * pl.col("prior")) / (pl.col("base_surveys") + k))
                .clip(_MIN_SHARE, 1.0 - _MIN_SHARE)
                .alias("mean"),
                # An area-wide wave raises everyone's odds alike (never lowers them).
                pl.max_horizontal(
                    pl.lit(1.0),
                    (pl.col("rest_share") / (1.0 - pl.col("rest_share")))
                    / (pl.col("prior") / (1.0 - pl.col("prior"))),
                )
                .fill_null(1.0)
                .alias("wave"),
            )
            .with_columns(
                (odds * pl.col("wave") / (1.0 + odds * pl.col("wave")))
                .clip(_MIN_SHARE, 1.0 - _MIN_SHARE)
                .alias("usual_share")
            )
            .with_columns((pl.col("surveys") * pl.col("usual_share")).alias("expected"))
            .with_columns((pl.col("detractors") - pl.col("expected")).alias("detractor_excess"))
        )
        s = found["s"].to_numpy()
        mean = found["usual_share"].to_numpy()
        chance = beta_binomial_tail(
            found["detractors"].to_numpy(), found["surveys"].to_numpy(), s * mean, s * (1 - mean)
        )
        return (
            found.with_columns(pl.Series("chance", chance))
            .filter(pl.col("chance") <= cfg.detractor_chance / pl.col("family"))
            .select(empty.columns)
            .sort("area_id", "tech_id")
        )

    def _tested(self, recent: pl.DataFrame) -> pl.DataFrame:
        """The techs of ``recent`` the cluster test looks at: in an area whose stream tells
        hire dates, those hired at most ``detractor_rookie_days`` ago; elsewhere all of them."""
        days = self.config.detractor_rookie_days
        hires = self.tech_days.hires
        if days is None or hires.is_empty() or self._now is None:
            return recent
        told = hires.select("area_id").unique()
        rookies = hires.filter(pl.col("hired_on") >= self._now.date() - timedelta(days=days))
        return pl.concat(
            [
                recent.join(told, on="area_id", how="anti"),
                recent.join(rookies, on=["area_id", "tech_id"], how="semi"),
            ]
        )

    def sku_lead_time_spikes(self) -> pl.DataFrame:
        """SKUs whose lead time spiked now, per area.

        ``area_id, sku, lead_recent_p95_days, lead_usual_p95_days, lead_spike_ratio``: the P95
        of the lead times quoted in the last ``lead_recent_hours`` is at least
        ``lead_spike_ratio`` times, and ``lead_spike_floor_days`` more than, the SKU's P95 over
        the ``lead_baseline_hours`` before (with at least ``lead_min_baseline`` events).
        """
        cfg = self.config
        empty = pl.DataFrame(
            schema={
                "area_id": pl.String,
                "sku": pl.String,
                "lead_recent_p95_days": pl.Float64,
                "lead_usual_p95_days": pl.Float64,
                "lead_spike_ratio": pl.Float64,
            }
        )
        if self._now is None or self._leads.is_empty():
            return empty
        cut = self._now - timedelta(hours=cfg.lead_recent_hours)
        keys = ["area_id", "sku"]
        recent = (
            self._leads.filter(pl.col("ts") > cut)
            .group_by(keys)
            .agg(pl.col("lead_time_days").quantile(0.95, "linear").alias("lead_recent_p95_days"))
        )
        if recent.is_empty():
            return empty
        usual = (
            self._leads.filter(pl.col("ts") <= cut)
            .join(recent.select(keys), on=keys, how="semi")
            .group_by(keys)
            .agg(
                pl.col("lead_time_days").quantile(0.95, "linear").alias("lead_usual_p95_days"),
                pl.len().alias("n"),
            )
            .filter(pl.col("n") >= cfg.lead_min_baseline)
        )
        return (
            recent.join(usual, on=keys)
            .with_columns(
                (
                    pl.col("lead_recent_p95_days")
                    / pl.col("lead_usual_p95_days").clip(lower_bound=0.01)
                ).alias("lead_spike_ratio")
            )
            .filter(
                (pl.col("lead_spike_ratio") >= cfg.lead_spike_ratio)
                & (
                    pl.col("lead_recent_p95_days") - pl.col("lead_usual_p95_days")
                    >= cfg.lead_spike_floor_days
                )
            )
            .select(empty.columns)
            .sort(keys)
        )

    def earnings_declines(self) -> pl.DataFrame:
        """Bottom earners whose pay per worked day fell well below their own pace.

        ``area_id, tech_id, recent_pay_per_day, usual_pay_per_day, pace_ratio, pay_7d,
        area_pay_7d_bottom`` (see :class:`SignalConfig` ``earnings_*``). Only closed days
        count, so this changes once a day and is computed then.
        """
        if self._now is None:
            return NO_DECLINE
        return self.tech_days.earnings_declines(self._now.date())

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
        """The area's locker with the least stock of ``sku``; if no locker reported the SKU,
        the area's emptiest locker of any SKU (None if none reported anything)."""
        by_sku, by_area = self.emptiest_lockers()
        return by_sku.get((area_id, sku), by_area.get(area_id))

    def emptiest_lockers(self) -> tuple[dict[tuple[str, str], str], dict[str, str]]:
        """Every (area, SKU)'s emptiest locker and every area's, in one pass over the stock
        (ties go to the lower locker id); cached until the next :meth:`update`."""
        if self._emptiest is None:
            ranked = self._stock.sort("on_hand", "locker_id")
            by_sku = ranked.group_by("area_id", "sku").agg(pl.col("locker_id").first())
            by_area = ranked.group_by("area_id").agg(pl.col("locker_id").first())
            self._emptiest = (
                {(a, k): lk for a, k, lk in by_sku.iter_rows()},
                dict(by_area.iter_rows()),
            )
        return self._emptiest
