"""Sprint missions: a technician in the tail gets one short goal aimed at their weakest metric.

Each week, among the techs TechPower scored, those in the bottom ``tail_share`` of their area
are eligible; each eligible tech's weakest part (net first-time fix or NPS, by z-score) names
the mission: "fix at least 4 of your next 5 first visits" or "at least 3 promoters (9-10) in
your next 5 surveys". Eligible techs are randomised: a share ``treat_share`` get the mission,
the rest are the control group the effect is measured against (the draw is kept with its
probability). At most one open mission per tech; a mission ends when its jobs (or surveys) are
in, or when it expires, and a completed mission earns XP.

Progress comes from the events alone: :meth:`MissionBook.ingest` counts each open mission's
tech's first visits (``first_time_fix`` set, not a recall) or surveys after it began.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import numpy as np
import polars as pl

from tailguard.errors import InvalidInputError

METRICS: Final = ("fix", "nps")


@dataclass
class Mission:
    """One technician's sprint mission and its progress."""

    mission_id: str
    tech_id: str
    area_id: str
    metric: str  # fix or nps
    needed: int  # first visits (fix) or surveys (nps) it spans
    target: int  # how many of them must succeed
    xp: int
    started_at: datetime
    expires_at: datetime
    seen: int = 0
    hits: int = 0
    status: str = "open"  # open, completed, failed, expired

    @property
    def text(self) -> str:
        """The mission as the technician reads it."""
        if self.metric == "fix":
            what = f"fix at least {self.target} of your next {self.needed} first visits"
        else:
            what = f"get at least {self.target} promoters (9-10) in your next {self.needed} surveys"
        return f"{what}: {self.xp} XP"


@dataclass(frozen=True, kw_only=True, slots=True)
class MissionConfig:
    """Who gets a mission, what it asks, and what it pays."""

    tail_share: float = 0.25
    treat_share: float = 0.5
    jobs: int = 5
    fix_target: int = 4
    nps_target: int = 3
    xp: int = 500
    days: int = 7

    def __post_init__(self) -> None:
        if not 0 < self.tail_share <= 1 or not 0 < self.treat_share < 1:
            raise InvalidInputError("tail_share must be in (0, 1] and treat_share in (0, 1)")
        if not 1 <= self.fix_target <= self.jobs or not 1 <= self.nps_target <= self.jobs:
            raise InvalidInputError("a mission's target must be between 1 and its jobs")
        if self.days < 1 or self.xp < 0:
            raise InvalidInputError("a mission lasts at least a day and pays XP >= 0")


@dataclass
class MissionBook:
    """Every mission handed out, open or closed, and the randomised control group."""

    config: MissionConfig = field(default_factory=MissionConfig)
    seed: int = 0
    missions: dict[str, Mission] = field(default_factory=dict)
    control: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)

    def open_for(self, tech_id: str) -> Mission | None:
        """The tech's open mission, if any."""
        for m in self.missions.values():
            if m.tech_id == tech_id and m.status == "open":
                return m
        return None

    def propose(self, scores: pl.DataFrame, now: datetime) -> list[Mission]:
        """This week's new missions from TechPower ``scores`` (see the module docstring).

        The randomised control techs are remembered in :attr:`control` (tech -> area, metric,
        when), for the effect estimate.
        """
        cfg = self.config
        if scores.is_empty():
            return []
        ranked = scores.with_columns(
            (pl.col("area_rank") > ((1 - cfg.tail_share) * pl.col("area_size")).ceil()).alias(
                "tail"
            )
        ).filter(pl.col("tail"))
        rng = np.random.default_rng([self.seed, int(now.timestamp())])
        new: list[Mission] = []
        for row in ranked.sort("area_id", "tech_id").iter_rows(named=True):
            tech = row["tech_id"]
            if self.open_for(tech) is not None:
                continue
            fix_z, nps_z = row["fix_z"], row["nps_z"]
            metric = "nps" if (nps_z is not None and fix_z is not None and nps_z < fix_z) else "fix"
            if rng.random() >= cfg.treat_share:
                self.control[tech] = (row["area_id"], metric, now)
                continue
            self.control.pop(tech, None)
            mission = Mission(
                mission_id=f"m-{tech}-{int(now.timestamp())}",
                tech_id=tech,
                area_id=row["area_id"],
                metric=metric,
                needed=cfg.jobs,
                target=cfg.fix_target if metric == "fix" else cfg.nps_target,
                xp=cfg.xp,
                started_at=now,
                expires_at=now + timedelta(days=cfg.days),
            )
            self.missions[mission.mission_id] = mission
            new.append(mission)
        return new

    def ingest(self, events: pl.DataFrame) -> list[Mission]:
        """Count the events toward open missions; returns the missions that ended."""
        open_ = {m.tech_id: m for m in self.missions.values() if m.status == "open"}
        if not open_ or events.is_empty():
            return []
        mine = events.filter(pl.col("tech_id").is_in(list(open_))).sort("ts")
        ended: list[Mission] = []
        for kind, tech, ts, fixed, recall_of, nps in mine.select(
            "type", "tech_id", "ts", "first_time_fix", "recall_of_job_id", "nps"
        ).iter_rows():
            m = open_.get(tech)
            if m is None or m.status != "open" or ts < m.started_at:
                continue
            if (
                m.metric == "fix"
                and kind == "job.completed"
                and fixed is not None
                and not recall_of
            ):
                m.seen += 1
                m.hits += bool(fixed)
            elif m.metric == "nps" and kind == "cx.survey" and nps is not None:
                m.seen += 1
                m.hits += nps >= 9
            else:
                continue
            if m.seen >= m.needed:
                m.status = "completed" if m.hits >= m.target else "failed"
                ended.append(m)
        return ended

    def expire(self, now: datetime) -> list[Mission]:
        """Close the open missions past their expiry."""
        done = [m for m in self.missions.values() if m.status == "open" and now >= m.expires_at]
        for m in done:
            m.status = "expired"
        return done

    def counts(self) -> dict[str, int]:
        """Missions by status, and the control techs."""
        out = dict.fromkeys(("open", "completed", "failed", "expired"), 0)
        for m in self.missions.values():
            out[m.status] += 1
        out["control"] = len(self.control)
        out["xp"] = sum(m.xp for m in self.missions.values() if m.status == "completed")
        return out
