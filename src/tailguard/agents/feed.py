"""Feeding the area agents: events cut into hours, from a file (replay) or a bus (follow).

A :class:`Feeder` decides when an hour is ticked and with which events, and drives anything
that ticks hours (:class:`Ticked`); :class:`~tailguard.agents.runner.AgentRunner` is one (the
wiring of the stores, the control plane and the agents, which ticks an hour when told) and
hands its ``replay`` and ``follow`` to its feeder.

* :meth:`Feeder.replay`: an event file read in event-time order, one tick per hour
  boundary, the agents' clock a :class:`~tailguard.clock.FakeClock` at each hour's end;
* :meth:`Feeder.follow`: a bus (NATS JetStream or Redis Streams), a tick at each
  wall-clock hour boundary (or every ``tick_every`` seconds, an hour of compressed time each),
  and between ticks a poll that resumes the gates people decided (the tick's reconciliation).

Either way an hour's tick gets the events whose ``ts`` falls at or before its end; a late event
joins the next tick (the scorecard files it under its own hour). The first ``warmup`` of event
time only fills the KPI windows and the signals' history: no tick acts on half-empty windows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import polars as pl
import pyarrow as pa

from tailguard.agents.tick import TickReport
from tailguard.clock import Clock, FakeClock, SystemClock, format_ts
from tailguard.errors import InvalidInputError
from tailguard.events import WIDE_SCHEMA, Bus, DeadLetterSink, read_events, validate_table
from tailguard.events.skew import reject_future

if TYPE_CHECKING:
    from tailguard.agents.runner import RunnerConfig
    from tailguard.agents.summary import RunSummary

HOUR = timedelta(hours=1)


# ------------------------------------------------------------------ hours of events


def hour_end(ts: datetime) -> datetime:
    """The end of the (right-closed) hour ``ts`` falls in: 10:00:00 -> 10:00, 10:00:01 -> 11:00."""
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    floor = ts.replace(minute=0, second=0, microsecond=0)
    return floor if floor == ts else floor + HOUR


class HourBuffer:
    """Events waiting for the tick of their hour."""

    def __init__(self) -> None:
        self._frame: pl.DataFrame | None = None
        self.earliest: datetime | None = None
        self.latest: datetime | None = None

    def __len__(self) -> int:
        return 0 if self._frame is None else self._frame.height

    def add(self, frame: pl.DataFrame) -> None:
        """Hold ``frame``'s events (wide schema) until their hour's tick."""
        if frame.height == 0:
            return
        lo, hi = frame["ts"].min(), frame["ts"].max()
        assert isinstance(lo, datetime)
        assert isinstance(hi, datetime)
        self.earliest = lo if self.earliest is None else min(self.earliest, lo)
        self.latest = hi if self.latest is None else max(self.latest, hi)
        self._frame = frame if self._frame is None else pl.concat([self._frame, frame])

    def next_ts(self) -> datetime | None:
        """The earliest ``ts`` still held (None when empty)."""
        if self._frame is None:
            return None
        first = self._frame["ts"].min()
        assert isinstance(first, datetime)
        return first

    def take(self, as_of: datetime) -> pl.DataFrame:
        """Remove and return the events with ``ts <= as_of`` (late ones included)."""
        if self._frame is None:
            return _empty()
        due = pl.col("ts") <= as_of
        out, rest = self._frame.filter(due), self._frame.filter(~due)
        self._frame = rest if rest.height else None
        return out


def _empty() -> pl.DataFrame:
    frame = pl.from_arrow(WIDE_SCHEMA.empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


# ------------------------------------------------------------------ replay and follow


class Ticked(Protocol):
    """What a :class:`Feeder` drives: hours ticked when told (an
    :class:`~tailguard.agents.runner.AgentRunner`)."""

    @property
    def config(self) -> RunnerConfig:
        """The warm-up, the KPI window, the tolerated clock skew and the wall clock."""
        ...

    @property
    def clock(self) -> FakeClock:
        """The agents' clock (read between ticks)."""
        ...

    @property
    def summary(self) -> RunSummary:
        """The run's summary (the feeder sets its mode, source, skipped hours and stop)."""
        ...

    @property
    def dead_letter(self) -> DeadLetterSink:
        """Where refused events go."""
        ...

    def hour(self, as_of: datetime, events: pl.DataFrame, *, act: bool = True) -> TickReport | None:
        """The tick at ``as_of`` with its hour's events (None: a warm-up hour)."""
        ...

    def warming_up(self, as_of: datetime) -> bool:
        """True when the hour ending at ``as_of`` only fills windows."""
        ...

    def warm_up_again(self, start: datetime) -> None:
        """Only fill windows for a warm-up from ``start`` on (after a gap in the events)."""
        ...

    def poll_gates(self, now: datetime) -> TickReport:
        """Settle the gates decided since the last tick."""
        ...

    def holds_gates(self) -> bool:
        """True when runs wait at gates the ticks reconcile."""
        ...

    def fresh(self, table: pa.Table) -> pl.DataFrame:
        """``table`` without the events seen before."""
        ...

    def finish(self) -> RunSummary:
        """Complete the summary."""
        ...


class Feeder:
    """Replay and follow: hours of events for a :class:`Ticked` (one feeder per runner)."""

    def __init__(self, ticked: Ticked) -> None:
        self.ticked = ticked
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask a running :meth:`follow` (or :meth:`replay`) to stop after its current step."""
        self._stop.set()

    def _drop_future(self, table: pa.Table, wall: Clock, source: str) -> pa.Table:
        """``table`` without events dated past the wall clock plus the tolerated skew (they
        go to the dead letter: a year-2999 ``ts`` must not make the agents tick for ever)."""
        skew = self.ticked.config.max_future_skew
        now = wall.now()
        return reject_future(
            table,
            limit=now + skew,
            reference=f"the clock ({format_ts(now)}) + {skew}",
            dead_letter=self.ticked.dead_letter,
            source=source,
        )

    def _skip_gap(self, buffer: HourBuffer, as_of: datetime) -> datetime:
        """Jump over a stretch with no event longer than the KPI window; warm up again after it.

        The windows are empty after such a gap, so its hours hold nothing to tick, and a stray
        timestamp (an epoch-zero ``ts``) cannot make a replay tick through decades.
        """
        following = buffer.next_ts()
        if following is None or following - as_of <= timedelta(days=self.ticked.config.window_days):
            return as_of
        resume = hour_end(following)
        self.ticked.summary.skipped_hours += round((resume - as_of) / HOUR)
        self.ticked.warm_up_again(resume)
        return resume

    # -------------------------------------------------------------- replay

    def replay_hours(
        self, path: str | Path, *, hours: int | None = None, batch_size: int = 65_536
    ) -> Iterator[tuple[datetime, TickReport | None]]:
        """Tick through an event file hour by hour; yields (as_of, report or None in warm-up).

        The file is streamed; it should be in event-time order (as ``tailguard simulate`` and
        stream exports write it): an hour is ticked once an event past its end is read, and an
        event older than that joins the next tick as a late event.
        """
        self.ticked.summary.mode, self.ticked.summary.source = "replay", str(path)
        buffer = HourBuffer()
        as_of: datetime | None = None
        batches = read_events(path, dead_letter=self.ticked.dead_letter, batch_size=batch_size)
        wall = self.ticked.config.wall or SystemClock()
        try:
            for batch in batches:
                buffer.add(self.ticked.fresh(self._drop_future(batch, wall, str(path))))
                if as_of is None and buffer.earliest is not None:
                    as_of = hour_end(buffer.earliest)
                while as_of is not None and buffer.latest is not None and buffer.latest > as_of:
                    yield as_of, self.ticked.hour(as_of, buffer.take(as_of))
                    as_of = self._skip_gap(buffer, as_of + HOUR)
                    if self._done(hours):
                        return
            while as_of is not None and len(buffer):
                yield as_of, self.ticked.hour(as_of, buffer.take(as_of))
                as_of = self._skip_gap(buffer, as_of + HOUR)
                if self._done(hours):
                    return
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # the file, when stopped early

    def _done(self, hours: int | None) -> bool:
        if hours is not None and self.ticked.summary.ticks >= hours:
            self.ticked.summary.stopped_by = "hours"
            return True
        if self._stop.is_set():
            self.ticked.summary.stopped_by = "stopped"
            return True
        return False

    def replay(
        self,
        path: str | Path,
        *,
        hours: int | None = None,
        on_hour: Callable[[datetime, TickReport | None], None] | None = None,
    ) -> RunSummary:
        """Run :meth:`replay_hours` to the end (or ``hours`` ticks); returns the summary."""
        for as_of, report in self.replay_hours(path, hours=hours):
            if on_hour is not None:
                on_hour(as_of, report)
        return self.ticked.finish()

    # -------------------------------------------------------------- follow

    def follow(
        self,
        bus: Bus,
        *,
        source: str = "bus",
        hours: int | None = None,
        tick_every: float | None = None,
        start: datetime | None = None,
        poll_s: float = 5.0,
        max_events: int = 10_000,
        wall: Clock | None = None,
        on_hour: Callable[[datetime, TickReport | None], None] | None = None,
    ) -> RunSummary:
        """Consume ``bus`` and tick at each hour boundary until ``hours`` ticks or :meth:`stop`.

        The agents' clock starts at the hour of the first event received (or ``start``). On
        the wall clock, hours that ended before the runner started are a backlog: they are
        caught up at full speed and only fill the windows (the agents act on the present);
        later hours are ticked as the wall passes their end. In compressed time the warm-up is
        caught up at full speed and each later hour is ticked ``tick_every`` seconds after the
        previous one.

        Args:
            bus: the event bus (its undecodable messages go to its own dead letter).
            source: how the summary names the bus (give a URL without its password).
            hours: stop after this many ticks (warm-up hours not counted); None: run on.
            tick_every: compressed time: tick every this many wall seconds, each tick the
                next hour; None: tick at each wall-clock hour boundary.
            start: the first hour's end (a whole UTC hour); default the first event's hour.
            poll_s: seconds between gate polls (and the longest wait for events).
            max_events: the most events taken from the bus at once.
            wall: the wall clock (a FakeClock in tests).
            on_hour: called after each hour with its report (None for a warm-up hour).
        """
        self.ticked.summary.mode, self.ticked.summary.source = "follow", source
        wall = wall or SystemClock()
        if start is not None and start != hour_end(start):
            raise InvalidInputError(f"start {format_ts(start)} is not a whole UTC hour")
        if poll_s <= 0 or (tick_every is not None and tick_every <= 0):
            raise InvalidInputError("poll_s and tick_every must be positive")
        live_from = hour_end(wall.now())
        buffer = HourBuffer()
        as_of = start
        due_at = wall.monotonic() + (tick_every or 0.0)
        last_poll = wall.monotonic()
        drained = False
        while not self._done(hours):
            if as_of is not None:
                catching_up = (
                    as_of < live_from if tick_every is None else self.ticked.warming_up(as_of)
                )
                if catching_up:
                    due = drained or (buffer.latest is not None and buffer.latest > as_of)
                elif tick_every is None:
                    due = wall.now() >= as_of
                else:
                    due = wall.monotonic() >= due_at
                if due:
                    report = self.ticked.hour(as_of, buffer.take(as_of), act=not catching_up)
                    if on_hour is not None:
                        on_hour(as_of, report)
                    as_of += HOUR
                    due_at = wall.monotonic() + (tick_every or 0.0)
                    continue
            wait = poll_s
            if as_of is not None and tick_every is None:
                wait = min(wait, (as_of - wall.now()).total_seconds())
            elif as_of is not None:
                wait = min(wait, due_at - wall.monotonic())
            delivery = bus.fetch(max_events, timeout=max(0.0, wait))
            drained = delivery.table.num_rows == 0
            if not drained:
                valid = validate_table(
                    delivery.table, source=source, dead_letter=self.ticked.dead_letter
                )
                buffer.add(self.ticked.fresh(self._drop_future(valid, wall, source)))
                bus.ack(delivery)
                if as_of is None and buffer.earliest is not None:
                    as_of = hour_end(buffer.earliest)
            # Gates are polled once the agents have ticked, or from the start when a restart
            # adopted gates (before any event arrives: the agents' clock is where it was).
            polling = self.ticked.summary.ticks or self.ticked.holds_gates()
            if polling and wall.monotonic() - last_poll >= poll_s:
                last_poll = wall.monotonic()
                self.ticked.poll_gates(self._between(as_of, wall, tick_every, due_at))
        if self.ticked.summary.ticks or self.ticked.holds_gates():
            # Gates decided since the last poll run now rather than being left behind.
            self.ticked.poll_gates(self._between(as_of, wall, tick_every, due_at))
        return self.ticked.finish()

    def _between(
        self, as_of: datetime | None, wall: Clock, tick_every: float | None, due_at: float
    ) -> datetime:
        """The agents' time between two ticks, short of the next tick's hour end.

        Before the first hour is known (no event yet): the agents' clock as it is.
        """
        if as_of is None:
            return self.ticked.clock.now()
        cap = as_of - timedelta(microseconds=1)
        if tick_every is None:
            return min(wall.now(), cap)
        left = max(0.0, due_at - wall.monotonic())
        return min(as_of - HOUR * (left / tick_every), cap)
