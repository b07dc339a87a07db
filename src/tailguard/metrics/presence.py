"""Tech presence per day over 90 days, for the churn KPI.

For each (area, tech, day) it keeps the first and last hour a ``tech.status`` or
``job.completed`` event named the tech, and the first and last hour of a ``churned`` status.
A 90-day window cuts at most the first and the last day, and within a cut day the first/last
hours decide exactly whether a tech was seen on the window's side of the cut, so the KPI is
exact at hourly resolution. Merging is min/max, so late and duplicate events are harmless.
The interior days' union is cached until a day enters or leaves it, or a late event changes one.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from tailguard.metrics.kpis import CHURN_DAYS

PRESENCE_SCHEMA: Final = pl.Schema(
    {
        "area_id": pl.String,
        "tech_id": pl.String,
        "first_h": pl.Int64,
        "last_h": pl.Int64,
        "churn_first_h": pl.Int64,
        "churn_last_h": pl.Int64,
    }
)
_KEYS: Final = ("area_id", "tech_id")


def _fold(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by(*_KEYS).agg(
        pl.col("first_h").min(),
        pl.col("last_h").max(),
        pl.col("churn_first_h").min(),
        pl.col("churn_last_h").max(),
    )


class ChurnPresence:
    """Daily tech presence for the 90-day churn KPI."""

    def __init__(self) -> None:
        self._days: dict[int, pl.DataFrame] = {}
        self._versions: dict[int, int] = {}
        self._cache: tuple[tuple[int, int, tuple[int, ...]], pl.DataFrame] | None = None

    def ingest(self, events: pl.DataFrame) -> None:
        """Fold events (with ``h`` and ``d`` bucket columns) into the daily presence."""
        named = events.filter(
            pl.col("type").is_in(["job.completed", "tech.status"]) & pl.col("tech_id").is_not_null()
        )
        if named.height == 0:
            return
        churn_h = pl.when(pl.col("status") == "churned").then(pl.col("h"))
        rows = named.group_by("d", *_KEYS).agg(
            pl.col("h").min().alias("first_h"),
            pl.col("h").max().alias("last_h"),
            churn_h.min().alias("churn_first_h"),
            churn_h.max().alias("churn_last_h"),
        )
        for (day,), frame in rows.partition_by("d", as_dict=True, include_key=False).items():
            d = int(day)  # type: ignore[call-overload]
            old = self._days.get(d)
            self._days[d] = frame if old is None else _fold(pl.concat([old, frame]))
            self._versions[d] = self._versions.get(d, 0) + 1

    def expire(self, before_day: int) -> None:
        """Drop days up to and including ``before_day``."""
        for d in [d for d in self._days if d <= before_day]:
            del self._days[d]
            del self._versions[d]

    def churn(self, h_hi: int, *, days: int = CHURN_DAYS) -> pl.DataFrame:
        """``area_id, churn_90d_pct`` over hours ``(h_hi - 24 * days, h_hi]``."""
        h_lo = h_hi - 24 * days
        d_first = h_lo // 24 + 1  # first day with an hour inside the window
        d_last = -(-h_hi // 24)  # day holding h_hi
        interior = self._interior(d_first + 1, d_last - 1)
        edges = [
            self._days[d].filter((pl.col("last_h") > h_lo) & (pl.col("first_h") <= h_hi))
            for d in {d_first, d_last}
            if d in self._days
        ]
        edge_rows = [
            e.select(
                *_KEYS,
                ((pl.col("churn_last_h") > h_lo) & (pl.col("churn_first_h") <= h_hi))
                .fill_null(value=False)
                .alias("churned"),
            )
            for e in edges
        ]
        techs = pl.concat([interior, *edge_rows]).group_by(*_KEYS).agg(pl.col("churned").any())
        return techs.group_by("area_id").agg(
            (100.0 * pl.col("churned").sum() / pl.len()).alias("churn_90d_pct")
        )

    def _interior(self, d_from: int, d_to: int) -> pl.DataFrame:
        """Techs seen (and whether churned) on whole days ``d_from..d_to``, cached."""
        days = [d for d in range(d_from, d_to + 1) if d in self._days]
        key = (d_from, d_to, tuple(self._versions[d] for d in days))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        if days:
            frame = (
                pl.concat([self._days[d] for d in days])
                .group_by(*_KEYS)
                .agg(pl.col("churn_first_h").is_not_null().any().alias("churned"))
            )
        else:
            frame = pl.DataFrame(
                schema={"area_id": pl.String, "tech_id": pl.String, "churned": pl.Boolean}
            )
        self._cache = (key, frame)
        return frame

    def nbytes(self) -> int:
        """Approximate memory held, in bytes."""
        return sum(int(f.estimated_size()) for f in self._days.values())
