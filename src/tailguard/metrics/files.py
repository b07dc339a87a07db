"""Scorecards straight from an event file (what ``tailguard scorecard`` and ``tails`` run)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa

from tailguard.clock import format_ts
from tailguard.events import DeadLetterSink, read_events
from tailguard.events.ahead import read_ahead
from tailguard.events.skew import DEFAULT_MAX_SKEW, reject_future
from tailguard.metrics.engine import ScorecardEngine


def default_dead_letter_path(events: str | Path) -> Path:
    """Where rejected events of ``events`` go by default: beside it."""
    p = Path(events)
    return p.with_name(p.name + ".deadletter.jsonl")


@dataclass(frozen=True, kw_only=True, slots=True)
class FileScores:
    """Scorecards computed from one event file.

    Attributes:
        ticks: (as_of, scorecard) in time order; the last one is at the requested ``as_of``.
        dead_letter_count: events the file held that broke the schema.
        dead_letter_path: where they were written (the file exists only if count > 0).
        duplicates: repeated event_ids counted once.
    """

    ticks: tuple[tuple[datetime, pl.DataFrame], ...]
    dead_letter_count: int
    dead_letter_path: Path
    duplicates: int

    @property
    def scorecard(self) -> pl.DataFrame:
        """The scorecard at the requested ``as_of``."""
        return self.ticks[-1][1]


def score_file(
    events: str | Path,
    as_of: datetime,
    *,
    window_days: int = 7,
    dead_letter: str | Path | None = None,
    lookback_ticks: int = 0,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
) -> FileScores:
    """Read an event file (streaming) and score every area at ``as_of``.

    Args:
        events: a ``.jsonl`` or ``.parquet`` event file.
        as_of: the window end (any timestamp: the engine's hour grid is anchored on it).
        window_days: W.
        dead_letter: where rejected events go (default beside ``events``).
        lookback_ticks: also score the hourly ticks before ``as_of`` (for rules with ``for``).
        max_skew: events dated later than ``as_of`` plus this are rejected to the dead letter
            as future events (a broken clock, a year-2999 typo).

    Raises:
        NotFoundError: the file does not exist.
        InvalidInputError: bad arguments or an unknown file suffix.
    """
    dl_path = Path(dead_letter) if dead_letter is not None else default_dead_letter_path(events)
    engine = ScorecardEngine(window_days, anchor=as_of)
    first = as_of - timedelta(hours=lookback_ticks)
    engine.advance(first)
    with DeadLetterSink(dl_path) as sink:
        limit = as_of + max_skew
        reference = f"--as-of {format_ts(as_of)} + {max_skew}"

        def batches() -> Iterator[pa.Table]:
            for batch in read_events(events, dead_letter=sink):
                yield reject_future(
                    batch, limit=limit, reference=reference, dead_letter=sink, source=str(events)
                )

        # Reading and validating the next batch (Arrow, GIL released) overlaps the engine's
        # ingest of this one (Polars): on two cores the read costs little wall time.
        for batch in read_ahead(batches(), depth=2):
            engine.ingest(batch)
        count = sink.count
    ticks = tuple(
        (first + timedelta(hours=k), engine.scorecard(first + timedelta(hours=k)))
        for k in range(lookback_ticks + 1)
    )
    return FileScores(
        ticks=ticks,
        dead_letter_count=count,
        dead_letter_path=dl_path,
        duplicates=engine.duplicates,
    )
