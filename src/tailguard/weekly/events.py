"""The week's aggregates straight from a raw event file (``tailguard week --events FILE``).

Reads the file once (validated; bad events go to the dead letter beside it), folds it into a
:class:`~tailguard.metrics.ScorecardEngine` anchored on ``as_of``, and writes, under
``out_dir``: ``weeks/<date>/`` for the week ending at ``as_of`` and the week before (when the
file covers it), with exact GP per tech and per zip, and ``pulse.db`` holding the daily
scorecards of the two weeks (the trend and churn's distribution).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from tailguard.events import DeadLetterSink, read_events
from tailguard.metrics.engine import ScorecardEngine
from tailguard.metrics.files import default_dead_letter_path
from tailguard.weekly.snapshot import build_week, money_from_events, write_week

_MONEY_COLS = ("type", "ts", "area_id", "tech_id", "zip", "revenue", "parts_cost", "tech_pay")


@dataclass(frozen=True, kw_only=True, slots=True)
class EventWeeks:
    """Where :func:`weeks_from_events` wrote, and what it rejected."""

    weeks_dir: Path
    pulse_url: str
    weeks: tuple[Path, ...]
    dead_letter_count: int
    dead_letter_path: Path


def weeks_from_events(
    events: Path, as_of: datetime, out_dir: Path, *, window_days: int = 7
) -> EventWeeks:
    """Compute and write this week's and last week's aggregates from an event file."""
    from tailguard.pulse import PulseStore

    engine = ScorecardEngine(window_days, anchor=as_of, retain_days=2 * window_days + 9)
    dl_path = default_dead_letter_path(events)
    jobs: list[pl.DataFrame] = []
    with DeadLetterSink(dl_path) as sink:
        for batch in read_events(events, dead_letter=sink):
            engine.ingest(batch)
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            jobs.append(frame.filter(pl.col("type") == "job.completed").select(_MONEY_COLS))
        rejected = sink.count
    money_events = pl.concat(jobs) if jobs else pl.DataFrame()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pulse_path = out_dir / "pulse.db"
    pulse_url = f"sqlite:///{pulse_path}"
    written: list[Path] = []
    prev = as_of - timedelta(days=7)
    with PulseStore.open(pulse_url) as pulse:
        for k in range(13, -1, -1):
            t = as_of - timedelta(days=k)
            pulse.write(t, engine.scorecard(t))
            if t in (prev, as_of):
                money = money_from_events(money_events, t, window_days) if jobs else None
                frames = build_week(engine, t, money=money)
                if frames["areas"].height:
                    written.append(write_week(frames, t, out_dir, window_days))
    return EventWeeks(
        weeks_dir=out_dir / "weeks",
        pulse_url=pulse_url,
        weeks=tuple(written),
        dead_letter_count=rejected,
        dead_letter_path=dl_path,
    )
