"""``detractor_cluster``: more detractors around one tech than their own usual share explains.

The usual share is the tech's own history with the area's as a prior, its uncertainty kept (a
Beta-binomial tail, :mod:`tailguard.agents.chance`), raised by an area-wide wave; the test is
Bonferroni-corrected over the techs tested in the area (see :class:`~.base.SignalConfig`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

import polars as pl

from tailguard.agents.chance import beta_binomial_tail
from tailguard.agents.signals.base import SignalSpec
from tailguard.agents.signals.memory import SignalMemory

#: The detractor share a tech is expected to have when neither they nor their area has any
#: baseline yet (the agent just started).
_NO_HISTORY_SHARE = 0.2
#: Usual shares are kept inside [_MIN_SHARE, 1 - _MIN_SHARE] (a tech whose customers never
#: complained is not a cluster at their first detractor).
_MIN_SHARE = 0.02
#: The rest of an area's detractor share in the cluster's hours is shrunk towards the area's usual
#: share by this many pseudo-surveys before it counts as a wave (``SignalConfig.detractor_chance``).
_WAVE_PRIOR_SURVEYS = 20.0
NO_CLUSTER: Final = pl.DataFrame(
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


class DetractorCluster:
    """Techs with a detractor cluster now.

    ``area_id, tech_id, surveys, detractors, usual_share, expected, detractor_excess,
    chance``: at least ``detractor_cluster`` detractors in the last ``detractor_hours``,
    with a ``chance`` (Beta-binomial posterior predictive over the tech's surveys in those
    hours) of at most ``detractor_chance`` over the number of techs tested in the area.
    ``usual_share`` is the predictive mean (the tech's usual share, raised by an area-wide
    wave), ``expected`` that times the surveys and ``detractor_excess`` the detractors
    beyond it. Which techs are tested, and why: see :class:`~.base.SignalConfig`.
    """

    name = "detractor_cluster"
    spec = SignalSpec(unit="tech", id_column="tech_id", value="detractor_excess", worst="max")

    def compute(self, memory: SignalMemory) -> pl.DataFrame:
        """The techs of every area with a cluster now (see the class)."""
        cfg = memory.config
        if memory.now is None:
            return NO_CLUSTER
        since = memory.now - timedelta(hours=cfg.detractor_hours)
        recent = (
            memory.surveys.filter(
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
        tested = _tested(memory, recent)
        family = tested.group_by("area_id").agg(pl.len().alias("family"))
        recent = tested.filter(pl.col("detractors") >= cfg.detractor_cluster)
        if recent.is_empty():
            return NO_CLUSTER
        own, area = memory.tech_days.usual_detractors(memory.now.date())
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
            .select(NO_CLUSTER.columns)
            .sort("area_id", "tech_id")
        )


def _tested(memory: SignalMemory, recent: pl.DataFrame) -> pl.DataFrame:
    """The techs of ``recent`` the cluster test looks at: in an area whose stream tells
    hire dates, those hired at most ``detractor_rookie_days`` ago; elsewhere all of them."""
    days = memory.config.detractor_rookie_days
    hires = memory.tech_days.hires
    if days is None or hires.is_empty() or memory.now is None:
        return recent
    told = hires.select("area_id").unique()
    rookies = hires.filter(pl.col("hired_on") >= memory.now.date() - timedelta(days=days))
    return pl.concat(
        [
            recent.join(told, on="area_id", how="anti"),
            recent.join(rookies, on=["area_id", "tech_id"], how="semi"),
        ]
    )


SIGNAL: Final = DetractorCluster()
