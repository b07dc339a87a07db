"""TechPower: a technician's weekly composite of revenue, net first-time fix and NPS.

Each part is normalised where it is comparable: revenue per job and the net fix rate within
the job code (a fridge compressor job is not a dishwasher filter job), NPS over the network.
The net fix rate counts a recorded first-time fix only if the job did not come back: every
recall visit (``recall_of_job_id`` set) is charged to the technician whose job it redoes
(``original_tech_id``), in the week and job code of the recall. A technician's revenue and fix
scores are the job-weighted means of their per-code z-scores; TechPower is
``center + scale x`` the weighted mean of the three z-scores (100 is the network's typical
technician, 115 one standard deviation better).

The book is incremental like the scorecard: :meth:`TechPowerBook.ingest` folds an hour of
events into per (ISO week, area, tech, job code) sums; :meth:`TechPowerBook.scores` computes a
week's scores from the sums only. Ranks are within the area; the network's P50 and P90 come
with every row. Who may be shown is the leaderboard's business
(:func:`leaderboard`): a technician who has not opted in is scored (the agent uses the score)
but never listed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Final

import polars as pl

from tailguard.errors import InvalidInputError

_KEYS: Final = ["week", "area_id", "tech_id", "job_code"]
_EMPTY_JOBS: Final = pl.DataFrame(
    schema={
        "week": pl.Date,
        "area_id": pl.String,
        "tech_id": pl.String,
        "job_code": pl.String,
        "jobs": pl.Int64,
        "revenue": pl.Float64,
        "fixes": pl.Int64,
        "recalls": pl.Int64,
    }
)
_EMPTY_NPS: Final = pl.DataFrame(
    schema={
        "week": pl.Date,
        "area_id": pl.String,
        "tech_id": pl.String,
        "nps_sum": pl.Float64,
        "surveys": pl.Int64,
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class TechPowerConfig:
    """How the parts weigh and how the score is scaled.

    Attributes:
        revenue, fix, nps: the weights of the three z-scores (normalised to sum to 1).
        center, scale: TechPower = center + scale x the weighted z-score.
        min_jobs: a tech with fewer jobs in the week gets no score (too little to judge).
    """

    revenue: float = 1.0
    fix: float = 1.0
    nps: float = 1.0
    center: float = 100.0
    scale: float = 15.0
    min_jobs: int = 3

    def __post_init__(self) -> None:
        weights = (self.revenue, self.fix, self.nps)
        if min(weights) < 0 or sum(weights) <= 0:
            raise InvalidInputError("TechPower weights must be >= 0 with a positive sum")
        if self.scale <= 0 or self.min_jobs < 1:
            raise InvalidInputError("scale must be positive and min_jobs at least 1")


def week_of(col: str) -> pl.Expr:
    """The Monday (UTC) of the ISO week of timestamp column ``col``."""
    return pl.col(col).dt.truncate("1w").dt.date().alias("week")


class TechPowerBook:
    """Per (week, area, tech, job code) sums of what TechPower is made of."""

    def __init__(self, config: TechPowerConfig | None = None) -> None:
        self.config = config or TechPowerConfig()
        self.jobs = _EMPTY_JOBS
        self.nps = _EMPTY_NPS

    def ingest(self, events: pl.DataFrame) -> int:
        """Fold a batch of events (the wide event schema) in; returns the job events used."""
        if events.is_empty():
            return 0
        done = events.filter((pl.col("type") == "job.completed") & pl.col("tech_id").is_not_null())
        own = done.select(
            week_of("ts"),
            "area_id",
            "tech_id",
            pl.col("job_code").fill_null("?"),
            pl.lit(1, pl.Int64).alias("jobs"),
            pl.col("revenue").fill_null(0.0).cast(pl.Float64).alias("revenue"),
            pl.col("first_time_fix").fill_null(False).cast(pl.Int64).alias("fixes"),
            pl.lit(0, pl.Int64).alias("recalls"),
        )
        recalls = done.filter(
            pl.col("recall_of_job_id").is_not_null() & pl.col("original_tech_id").is_not_null()
        ).select(
            week_of("ts"),
            "area_id",
            pl.col("original_tech_id").alias("tech_id"),
            pl.col("job_code").fill_null("?"),
            pl.lit(0, pl.Int64).alias("jobs"),
            pl.lit(0.0).alias("revenue"),
            pl.lit(0, pl.Int64).alias("fixes"),
            pl.lit(1, pl.Int64).alias("recalls"),
        )
        self.jobs = _fold(self.jobs, pl.concat([own, recalls]), _KEYS)
        surveys = events.filter(
            (pl.col("type") == "cx.survey")
            & pl.col("tech_id").is_not_null()
            & pl.col("nps").is_not_null()
        ).select(
            week_of("ts"),
            "area_id",
            "tech_id",
            pl.col("nps").cast(pl.Float64).alias("nps_sum"),
            pl.lit(1, pl.Int64).alias("surveys"),
        )
        self.nps = _fold(self.nps, surveys, ["week", "area_id", "tech_id"])
        return done.height

    def weeks(self) -> list[date]:
        """The weeks the book holds, oldest first."""
        return sorted(self.jobs["week"].unique().to_list())

    def code_scores(self, week: date) -> pl.DataFrame:
        """Per tech and job code in ``week``: ``jobs``, ``net_fix`` and its z-score within the
        code (``fix_z``), for the techs TechPower scores; a tech's weakest codes are lowest."""
        return self._by_code(week).select(
            "area_id", "tech_id", "job_code", "jobs", "net_fix", pl.col("fixz").alias("fix_z")
        )

    def _by_code(self, week: date) -> pl.DataFrame:
        cfg = self.config
        rows = self.jobs.filter(pl.col("week") == week)
        by_code = rows.group_by("area_id", "tech_id", "job_code").agg(
            pl.col("jobs").sum(), pl.col("revenue").sum(), pl.col("fixes").sum(),
            pl.col("recalls").sum(),
        ).filter(pl.col("jobs") > 0)  # fmt: skip
        # Only techs with enough jobs to be judged set the norms they are judged against.
        enough = (
            by_code.group_by("area_id", "tech_id")
            .agg(pl.col("jobs").sum())
            .filter(pl.col("jobs") >= cfg.min_jobs)
        )
        by_code = by_code.join(enough.select("area_id", "tech_id"), on=["area_id", "tech_id"],
                               how="semi")  # fmt: skip
        by_code = by_code.with_columns(
            (pl.col("revenue") / pl.col("jobs")).alias("rev_per_job"),
            ((pl.col("fixes") - pl.col("recalls")).clip(lower_bound=0) / pl.col("jobs")).alias(
                "net_fix"
            ),
        ).with_columns(
            _z("rev_per_job", "job_code").alias("rev_z"),
            _z("net_fix", "job_code").alias("fixz"),
        )
        return by_code

    def scores(self, week: date) -> pl.DataFrame:
        """TechPower of every tech with at least ``min_jobs`` jobs in ``week``.

        Columns: ``area_id``, ``tech_id``, ``jobs``, ``revenue_z``, ``fix_z``, ``nps_z``,
        ``net_fix_pct``, ``nps_mean``, ``techpower``, ``area_rank`` (1 = best),
        ``area_size``, ``network_p50``, ``network_p90``.
        """
        cfg = self.config
        by_code = self._by_code(week)
        techs = by_code.group_by("area_id", "tech_id").agg(
            pl.col("jobs").sum(),
            ((pl.col("rev_z") * pl.col("jobs")).sum() / pl.col("jobs").sum()).alias("revenue_z"),
            ((pl.col("fixz") * pl.col("jobs")).sum() / pl.col("jobs").sum()).alias("fix_z"),
            (
                100.0
                * (pl.col("fixes").sum() - pl.col("recalls").sum()).clip(lower_bound=0)
                / pl.col("jobs").sum()
            ).alias("net_fix_pct"),
        )
        nps = (
            self.nps.filter(pl.col("week") == week)
            .group_by("area_id", "tech_id")
            .agg((pl.col("nps_sum").sum() / pl.col("surveys").sum()).alias("nps_mean"))
        )
        out = techs.join(nps, on=["area_id", "tech_id"], how="left").with_columns(
            _z("nps_mean", None).fill_null(0.0).alias("nps_z")
        )
        total = cfg.revenue + cfg.fix + cfg.nps
        composite = (
            cfg.revenue * pl.col("revenue_z")
            + cfg.fix * pl.col("fix_z")
            + cfg.nps * pl.col("nps_z")
        ) / total
        out = out.with_columns((cfg.center + cfg.scale * composite).alias("techpower"))
        out = out.with_columns(
            pl.col("techpower").rank("min", descending=True).over("area_id").cast(pl.Int64)
            .alias("area_rank"),
            pl.len().over("area_id").cast(pl.Int64).alias("area_size"),
            pl.col("techpower").quantile(0.5, "linear").alias("network_p50"),
            pl.col("techpower").quantile(0.9, "linear").alias("network_p90"),
        )  # fmt: skip
        return out.sort("area_id", "area_rank", "tech_id")


def leaderboard(
    scores: pl.DataFrame, area_id: str, opted_in: Collection[str], *, top: int = 10
) -> pl.DataFrame:
    """The area's leaderboard: only technicians who opted in, best first, ranked among them."""
    shown = scores.filter(
        (pl.col("area_id") == area_id) & pl.col("tech_id").is_in(list(opted_in))
    ).sort("techpower", "tech_id", descending=[True, False])
    return shown.with_columns(
        pl.int_range(1, shown.height + 1).cast(pl.Int64).alias("board_rank")
    ).head(top)


def _z(col: str, within: str | None) -> pl.Expr:
    """z-score of ``col`` (within groups of ``within``); 0 where the spread is 0 or unknown."""
    value = pl.col(col)
    mean = value.mean() if within is None else value.mean().over(within)
    sd = value.std() if within is None else value.std().over(within)
    return pl.when(sd.is_not_null() & (sd > 1e-12)).then((value - mean) / sd).otherwise(0.0)


def _fold(old: pl.DataFrame, new: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    if new.is_empty():
        return old
    both = pl.concat([old, new.select(old.columns).cast(old.schema)])
    sums = [pl.col(c).sum() for c in old.columns if c not in keys]
    return both.group_by(keys).agg(sums).select(old.columns)
