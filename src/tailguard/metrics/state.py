"""What the tick, the agents' runner and the weekly snapshot ask of the areas' scorecard state.

:class:`~tailguard.metrics.ScorecardEngine` is the one implementation that computes; the
engine package (:mod:`tailguard.engine`) also places that state in shards (worker processes or
Ray actors) behind the same methods, so the callers do not know where the areas live.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import polars as pl
import pyarrow as pa

from tailguard.metrics.engine import Unit
from tailguard.metrics.partials import Partial

__all__ = ["Scorecards", "Unit"]


class Scorecards(Protocol):
    """The scorecard state of a set of areas (see :class:`ScorecardEngine` for each method)."""

    window_days: int

    @property
    def duplicates(self) -> int:
        """Events seen again (same ``event_id`` in the same hour), counted once."""
        ...

    def ingest(self, table: pa.Table | pl.DataFrame) -> int:
        """Fold a batch of events into the state; returns the events counted."""
        ...

    def advance(self, as_of: datetime) -> None:
        """Declare that no window will end before ``as_of`` minus a day."""
        ...

    def scorecard(self, as_of: datetime) -> pl.DataFrame:
        """Every KPI per area at ``as_of``, one row per area sorted by ``area_id``."""
        ...

    def units(self, as_of: datetime, unit: Unit) -> pl.DataFrame:
        """The per-unit drill-down at ``as_of``, sorted by its keys."""
        ...

    def window(self, as_of: datetime, *, days: int | None = None) -> Partial:
        """The merged partial of the window ending at ``as_of``."""
        ...

    def areas(self) -> pl.Series:
        """Every area seen, sorted."""
        ...
