"""Parts-kit streaks: ten jobs in a row whose pre-staged parts were all used earn a kit.

Only jobs with parts pre-staged count: such a job extends the technician's streak when every
pre-staged part was used (``parts_used >= parts_prestaged``) and breaks it otherwise; jobs with
nothing pre-staged neither extend nor break it. At ``length`` the technician earns a mystery
bonus kit and the streak starts again. Events are taken in completion order per technician,
so a batch may hold many hours; a job twice in one batch counts once (across batches, repeated
deliveries are dropped upstream, by ``event_id``, as for the scorecard).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from tailguard.errors import InvalidInputError


@dataclass(frozen=True, kw_only=True, slots=True)
class KitAward:
    """A streak completed: the kit is due (paid through the governed payout tool)."""

    area_id: str
    tech_id: str
    at: datetime
    streak: int


@dataclass
class KitStreaks:
    """Every technician's current streak."""

    length: int = 10
    current: dict[str, int] = field(default_factory=dict)
    awarded: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.length < 2:
            raise InvalidInputError("a streak needs at least 2 jobs")

    def ingest(self, events: pl.DataFrame) -> list[KitAward]:
        """Fold completed jobs in; returns the kits this batch earned."""
        if events.is_empty():
            return []
        jobs = (
            events.filter(
                (pl.col("type") == "job.completed")
                & pl.col("tech_id").is_not_null()
                & (pl.col("parts_prestaged").fill_null(0) > 0)
            )
            .unique(subset=["job_id"], keep="first", maintain_order=True)
            .sort("tech_id", "completed_at", "job_id")
            .select("job_id", "area_id", "tech_id", "completed_at", "parts_prestaged", "parts_used")
        )
        awards: list[KitAward] = []
        for _job, area, tech, at, staged, used in jobs.iter_rows():
            if (used or 0) >= staged:
                n = self.current.get(tech, 0) + 1
                if n >= self.length:
                    awards.append(KitAward(area_id=area, tech_id=tech, at=at, streak=n))
                    self.awarded[tech] = self.awarded.get(tech, 0) + 1
                    n = 0
                self.current[tech] = n
            else:
                self.current[tech] = 0
        return awards
