"""Spotting gamed first-time fixes: recorded fixes that come back as recalls.

A reward on recorded first-time fixes invites recording a failed diagnosis as a fix; the
customer calls again and the job comes back as a recall. :class:`FixLedger` remembers each
technician's recorded fixes (job id, when) for ``window_days`` and counts those that a later
visit names in ``recall_of_job_id``. :func:`gaming_flags` compares each technician's share of
recorded fixes that came back with the network's, by a one-sided binomial test, and flags the
technicians whose excess survives Benjamini-Hochberg at ``q`` across all technicians tested
(many techs are looked at every week: the flags' false discovery rate stays at ``q``) and is
at least ``min_ratio`` times the network's share. An agent stops rewarding flagged techs.

A fix recorded less than ``window_days`` ago may still come back: the shares are of fixes old
enough to have been judged (``mature``), so a new tech's fresh fixes do not look clean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl
from scipy import stats

from tailguard.errors import InvalidInputError


@dataclass
class FixLedger:
    """Each technician's recorded first-time fixes and which of them came back."""

    window_days: float = 30.0
    fixes: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    came_back: set[str] = field(default_factory=set)

    def ingest(self, events: pl.DataFrame) -> None:
        """Fold completed jobs in: remember recorded fixes, mark the ones a recall names."""
        if events.is_empty():
            return
        done = events.filter((pl.col("type") == "job.completed") & pl.col("job_id").is_not_null())
        for job, area, tech, ts in (
            done.filter(pl.col("first_time_fix").fill_null(False) & pl.col("tech_id").is_not_null())
            .select("job_id", "area_id", "tech_id", "ts")
            .iter_rows()
        ):
            self.fixes[job] = (area, tech, ts)
        for original in done.filter(pl.col("recall_of_job_id").is_not_null())[
            "recall_of_job_id"
        ].to_list():
            if original in self.fixes:
                self.came_back.add(original)

    def forget(self, before: datetime) -> None:
        """Drop fixes recorded before ``before`` (judged long ago)."""
        old = [j for j, (_, _, ts) in self.fixes.items() if ts < before]
        for j in old:
            del self.fixes[j]
            self.came_back.discard(j)

    def frame(self, now: datetime) -> pl.DataFrame:
        """Per tech: ``mature`` fixes (recorded at least ``window_days`` before ``now`` or
        already recalled) and ``recalled`` among them."""
        cutoff = now - timedelta(days=self.window_days)
        rows = [
            (area, tech, job in self.came_back)
            for job, (area, tech, ts) in self.fixes.items()
            if ts <= cutoff or job in self.came_back
        ]
        if not rows:
            return pl.DataFrame(
                schema={"area_id": pl.String, "tech_id": pl.String, "mature": pl.Int64,
                        "recalled": pl.Int64}
            )  # fmt: skip
        frame = pl.DataFrame(rows, schema=["area_id", "tech_id", "recalled"], orient="row")
        return frame.group_by("area_id", "tech_id").agg(
            pl.len().cast(pl.Int64).alias("mature"), pl.col("recalled").sum().cast(pl.Int64)
        )


def gaming_flags(
    per_tech: pl.DataFrame, *, q: float = 0.05, min_ratio: float = 1.5, min_fixes: int = 8
) -> pl.DataFrame:
    """Flag techs whose recorded fixes come back far more often than the network's.

    ``per_tech``: ``area_id``, ``tech_id``, ``mature``, ``recalled`` (:meth:`FixLedger.frame`).
    Returns it with ``share``, ``network_share``, ``p`` (one-sided binomial), ``q_value``
    (Benjamini-Hochberg) and ``flagged``; techs with fewer than ``min_fixes`` mature fixes are
    not tested (``p`` null, never flagged).
    """
    if not 0 < q < 1 or min_ratio < 1 or min_fixes < 1:
        raise InvalidInputError("q must be in (0, 1), min_ratio >= 1 and min_fixes >= 1")
    if per_tech.is_empty():
        return per_tech.with_columns(
            pl.lit(None, pl.Float64).alias(c) for c in ("share", "network_share", "p", "q_value")
        ).with_columns(pl.lit(False).alias("flagged"))
    total_fixes = int(per_tech["mature"].sum())
    base = float(per_tech["recalled"].sum()) / total_fixes if total_fixes else 0.0
    tested = per_tech["mature"].to_numpy() >= min_fixes
    p = np.full(per_tech.height, np.nan)
    recalled = per_tech["recalled"].to_list()
    mature = per_tech["mature"].to_list()
    for i in np.flatnonzero(tested).tolist():
        test = stats.binomtest(
            int(recalled[i]), int(mature[i]), max(base, 1e-9), alternative="greater"
        )
        p[i] = test.pvalue
    qv = np.full(per_tech.height, np.nan)
    idx = np.flatnonzero(tested)
    if idx.size:
        qv[idx] = stats.false_discovery_control(p[idx], method="bh")
    share = (per_tech["recalled"] / per_tech["mature"]).to_numpy().astype(float)
    flagged = tested & (np.nan_to_num(qv, nan=1.0) <= q) & (share >= min_ratio * base)
    return per_tech.with_columns(
        pl.Series("share", share),
        pl.lit(base).alias("network_share"),
        pl.Series("p", p).fill_nan(None),
        pl.Series("q_value", qv).fill_nan(None),
        pl.Series("flagged", flagged),
    )
