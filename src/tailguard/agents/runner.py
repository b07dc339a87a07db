"""Wiring for a real deployment: your events, your stores, REST downstream agents, people at gates.

The counterpart of :mod:`.world` (which stays the simulator's): the same :class:`AreaAgents`
with a :class:`~tailguard.metrics.ScorecardEngine`, a pulse store (SQLite or Redis), a ledger
(SQLite or PostgreSQL), a control plane, the self-learn store and REST downstream agents, but
no simulated approver: a gated call waits until a person decides it (the dashboard or the
``/v1`` API of ``tailguard serve`` on the same ledger database), and the control plane's
approvers are the ledger's API keys of role ``approver`` or ``admin``, as in the service. No
such key means nobody can approve: gates wait and time out, nothing gated ever runs.

Two ways to feed it:

* :meth:`AgentRunner.replay`: an event file read in event-time order, one tick per hour
  boundary, the agents' clock a :class:`~tailguard.clock.FakeClock` at each hour's end;
* :meth:`AgentRunner.follow`: a bus (NATS JetStream or Redis Streams), a tick at each
  wall-clock hour boundary (or every ``tick_every`` seconds, an hour of compressed time each),
  and between ticks a poll that resumes the gates people decided (the tick's reconciliation).

Either way an hour's tick gets the events whose ``ts`` falls at or before its end; a late event
joins the next tick (the scorecard files it under its own hour). The first ``warmup`` of event
time only fills the KPI windows and the signals' history: no tick acts on half-empty windows.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import polars as pl
import pyarrow as pa
import sqlalchemy as sa

from tailguard.agents.catalogue import Catalogue, default_catalogue
from tailguard.agents.routing import DownstreamRoutes, RoutedDownstream
from tailguard.agents.tick import AreaAgents, TickReport, build_registry
from tailguard.clock import Clock, FakeClock, SystemClock, format_ts
from tailguard.control import ControlPlane
from tailguard.control.gates import Approvers
from tailguard.control.store import gates as control_gates
from tailguard.errors import InvalidInputError
from tailguard.events import (
    WIDE_SCHEMA,
    Bus,
    DeadLetterSink,
    Deduplicator,
    read_events,
    validate_table,
)
from tailguard.learning import Decision, SelfLearnStore, StatusUpdate
from tailguard.ledger import Ledger
from tailguard.metrics import ScorecardEngine
from tailguard.pulse import PulseStore
from tailguard.rules import RuleSet, builtin_rules

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


# ------------------------------------------------------------------ what a run did


class _Tally(SelfLearnStore):
    """The self-learn store, also noting this run's decisions (kind, gate, latest status)."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(engine)
        self.kinds: Counter[str] = Counter()
        self.status: dict[str, str] = {}
        self.gate_of: dict[str, str] = {}

    def record_decisions(self, decisions: Sequence[Decision]) -> None:
        super().record_decisions(decisions)
        for d in decisions:
            self.kinds[d.kind] += 1
            self.status[d.decision_id] = "decided"

    def update_status(self, updates: Iterable[StatusUpdate]) -> None:
        batch = list(updates)
        super().update_status(batch)
        for u in batch:
            if u.decision_id in self.status:
                self.status[u.decision_id] = u.status
                if u.gate_id:
                    self.gate_of[u.decision_id] = u.gate_id


StopReason = Literal["end_of_input", "hours", "stopped"]


@dataclass(slots=True)
class RunSummary:
    """What one run of the agents did (the ``agents run`` summary)."""

    mode: str
    source: str
    ticks: int = 0
    warmup_hours: int = 0
    skipped_hours: int = 0
    first_as_of: datetime | None = None
    last_as_of: datetime | None = None
    events: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dead_letter_path: str = ""
    decisions_by_kind: dict[str, int] = field(default_factory=dict)
    executed: int = 0
    failed: int = 0
    rejected: int = 0
    timeouts: int = 0
    gates: dict[str, int] = field(default_factory=dict)
    approvers: int = 0
    stopped_by: StopReason = "end_of_input"

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return {
            "mode": self.mode,
            "source": self.source,
            "ticks": self.ticks,
            "warmup_hours": self.warmup_hours,
            "skipped_hours": self.skipped_hours,
            "first_as_of": None if self.first_as_of is None else format_ts(self.first_as_of),
            "last_as_of": None if self.last_as_of is None else format_ts(self.last_as_of),
            "events": {"ingested": self.events, "duplicates": self.duplicates},
            "dead_letter": {"count": self.dead_lettered, "path": self.dead_letter_path},
            "decisions": {
                "total": sum(self.decisions_by_kind.values()),
                "by_kind": dict(sorted(self.decisions_by_kind.items())),
            },
            "executed": self.executed,
            "failed": self.failed,
            "rejected": self.rejected,
            "timeouts": self.timeouts,
            "gates": self.gates,
            "approvers": self.approvers,
            "stopped_by": self.stopped_by,
        }


def redact(url: str) -> str:
    """``url`` without its password (for summaries and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


# ------------------------------------------------------------------ the runner


@dataclass(frozen=True, kw_only=True)
class RunnerConfig:
    """What a real deployment of the area agents runs on.

    Attributes:
        db: the ledger URL (``sqlite:///x.db``, a bare path, ``postgresql://...``); the
            control plane, the self-learn store and the API keys (approvers) live there too.
        pulse: the pulse store URL (``sqlite:///x.db``, a bare path, ``redis://...``).
        downstream: which URL serves each downstream agent.
        catalogue: the intervention catalogue (default: the built-in one).
        rules: the tail rules (default: the built-in set).
        dead_letter: where rejected events go.
        warmup: event time, from the first event, that only fills windows (no tick acts).
        window_days: the scorecard window W.
        seed: the choice policy's seed.
        downstream_timeout_s: per-attempt timeout of a REST call.
        approvers: who may decide gates (default: the ledger's approver and admin API keys).
    """

    db: str
    pulse: str
    downstream: DownstreamRoutes
    catalogue: Catalogue | None = None
    rules: RuleSet | None = None
    dead_letter: Path = Path("tailguard-agents.deadletter.jsonl")
    warmup: timedelta = timedelta(days=7)
    window_days: int = 7
    seed: int = 0
    downstream_timeout_s: float = 2.0
    approvers: Approvers | None = None


class AgentRunner:
    """The area agents on real stores, fed by :meth:`replay` or :meth:`follow`.

    Use as a context manager (or call :meth:`close`). ``clock`` is the agents' clock; the
    runner moves it (hour ends at ticks, the wall or compressed time between them).
    """

    def __init__(self, config: RunnerConfig, *, clock: FakeClock | None = None) -> None:
        self.config = config
        # The clock only moves forward and follows the events, which may be old: start early.
        self.clock = clock or FakeClock(datetime(1970, 1, 1, tzinfo=UTC))
        cat = config.catalogue or default_catalogue()
        config.downstream.check(e.downstream for e in cat.entries)
        self.dead_letter = DeadLetterSink(config.dead_letter, clock=SystemClock())
        self.downstream = RoutedDownstream(config.downstream, timeout_s=config.downstream_timeout_s)
        self.ledger = Ledger.open(config.db, clock=self.clock)
        self.pulse: PulseStore | None = None
        self._keys: Any = None
        try:
            approvers = config.approvers
            if approvers is None:
                # The service's approvers: whoever holds an approver or admin API key.
                from tailguard.service.auth import KeyStore

                approvers = self._keys = KeyStore(self.ledger.engine, clock=self.clock)
            self.control = ControlPlane(
                build_registry(cat, lambda: self.downstream, self.clock),
                self.ledger,
                clock=self.clock,
                approvers=approvers,
            )
            self.learning = _Tally(self.ledger.engine)
            self.pulse = PulseStore.open(config.pulse)
            self.engine = ScorecardEngine(config.window_days)
            self.agents = AreaAgents(
                catalogue=cat,
                control=self.control,
                learning=self.learning,
                scorecard=self.engine,
                rules=config.rules or builtin_rules(),
                clock=self.clock,
                pulse=self.pulse,
                seed=config.seed,
            )
        except BaseException:
            self.close()
            raise
        self._dedup = Deduplicator()
        self._acting_from: datetime | None = None
        self._stop = threading.Event()
        self.summary = RunSummary(mode="", source="", dead_letter_path=str(config.dead_letter))

    # -------------------------------------------------------------- one hour, one poll

    def hour(self, as_of: datetime, events: pl.DataFrame, *, act: bool = True) -> TickReport | None:
        """The tick at ``as_of`` with the events of its hour (None: a warm-up hour, no tick).

        A warm-up hour (``act`` false, or within the warm-up) only feeds the KPI windows and
        the signals' history.
        """
        self.clock.set(as_of)
        s = self.summary
        if self.warming_up(as_of) or not act:  # (the first hour fixes the warm-up)
            s.events += self.engine.ingest(events)
            self.agents.signals.update(events, as_of)
            s.warmup_hours += 1
            self.engine.advance(as_of)
            return None
        report = self.agents.tick(events)
        self.engine.advance(as_of)
        s.ticks += 1
        s.first_as_of = s.first_as_of or as_of
        s.last_as_of = as_of
        self._add(report)
        return report

    def warming_up(self, as_of: datetime) -> bool:
        """True when the hour ending at ``as_of`` only fills windows (the first fixes the start)."""
        if self._acting_from is None:
            self._acting_from = as_of + self.config.warmup
        return as_of < self._acting_from

    def _skip_gap(self, buffer: HourBuffer, as_of: datetime) -> datetime:
        """Jump over a stretch with no event longer than the KPI window; warm up again after it.

        The windows are empty after such a gap, so its hours hold nothing to tick, and a stray
        timestamp (an epoch-zero ``ts``) cannot make a replay tick through decades.
        """
        following = buffer.next_ts()
        if following is None or following - as_of <= timedelta(days=self.config.window_days):
            return as_of
        resume = hour_end(following)
        self.summary.skipped_hours += round((resume - as_of) / HOUR)
        self._acting_from = resume + self.config.warmup
        return resume

    def poll_gates(self, now: datetime) -> TickReport:
        """Settle gates decided (or timed out) since the last tick; approved calls run once.

        This is the tick's own reconciliation step, run between ticks so a person's approval
        takes effect within a poll interval rather than at the next hour.
        """
        self.clock.set(max(now, self.clock.now()))
        report = TickReport(at=self.clock.now())
        self.agents._reconcile(report)  # the tick's gate phase alone; see docs/agents.md
        self._add(report)
        return report

    def _add(self, report: TickReport) -> None:
        s = self.summary
        s.events += report.events
        s.executed += report.executed
        s.failed += report.failed
        s.rejected += report.rejected
        s.timeouts += report.timeouts

    def _fresh(self, table: pa.Table) -> pl.DataFrame:
        frame = pl.from_arrow(self._dedup(table))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def stop(self) -> None:
        """Ask a running :meth:`follow` (or :meth:`replay`) to stop after its current step."""
        self._stop.set()

    # -------------------------------------------------------------- replay

    def replay_hours(
        self, path: str | Path, *, hours: int | None = None, batch_size: int = 65_536
    ) -> Iterator[tuple[datetime, TickReport | None]]:
        """Tick through an event file hour by hour; yields (as_of, report or None in warm-up).

        The file is streamed; it should be in event-time order (as ``tailguard simulate`` and
        stream exports write it): an hour is ticked once an event past its end is read, and an
        event older than that joins the next tick as a late event.
        """
        self.summary.mode, self.summary.source = "replay", str(path)
        buffer = HourBuffer()
        as_of: datetime | None = None
        batches = read_events(path, dead_letter=self.dead_letter, batch_size=batch_size)
        try:
            for batch in batches:
                buffer.add(self._fresh(batch))
                if as_of is None and buffer.earliest is not None:
                    as_of = hour_end(buffer.earliest)
                while as_of is not None and buffer.latest is not None and buffer.latest > as_of:
                    yield as_of, self.hour(as_of, buffer.take(as_of))
                    as_of = self._skip_gap(buffer, as_of + HOUR)
                    if self._done(hours):
                        return
            while as_of is not None and len(buffer):
                yield as_of, self.hour(as_of, buffer.take(as_of))
                as_of = self._skip_gap(buffer, as_of + HOUR)
                if self._done(hours):
                    return
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # the file, when stopped early

    def _done(self, hours: int | None) -> bool:
        if hours is not None and self.summary.ticks >= hours:
            self.summary.stopped_by = "hours"
            return True
        if self._stop.is_set():
            self.summary.stopped_by = "stopped"
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
        return self.finish()

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
        self.summary.mode, self.summary.source = "follow", source
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
                catching_up = as_of < live_from if tick_every is None else self.warming_up(as_of)
                if catching_up:
                    due = drained or (buffer.latest is not None and buffer.latest > as_of)
                elif tick_every is None:
                    due = wall.now() >= as_of
                else:
                    due = wall.monotonic() >= due_at
                if due:
                    report = self.hour(as_of, buffer.take(as_of), act=not catching_up)
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
                valid = validate_table(delivery.table, source=source, dead_letter=self.dead_letter)
                buffer.add(self._fresh(valid))
                bus.ack(delivery)
                if as_of is None and buffer.earliest is not None:
                    as_of = hour_end(buffer.earliest)
            if self.summary.ticks and as_of is not None and wall.monotonic() - last_poll >= poll_s:
                last_poll = wall.monotonic()
                self.poll_gates(self._between(as_of, wall, tick_every, due_at))
        if self.summary.ticks and as_of is not None:
            # Gates decided since the last poll run now rather than being left behind.
            self.poll_gates(self._between(as_of, wall, tick_every, due_at))
        return self.finish()

    def _between(
        self, as_of: datetime, wall: Clock, tick_every: float | None, due_at: float
    ) -> datetime:
        """The agents' time between two ticks, short of the next tick's hour end."""
        cap = as_of - timedelta(microseconds=1)
        if tick_every is None:
            return min(wall.now(), cap)
        left = max(0.0, due_at - wall.monotonic())
        return min(as_of - HOUR * (left / tick_every), cap)

    # -------------------------------------------------------------- summary, close

    def finish(self) -> RunSummary:
        """Flush the dead letter and complete the summary (gates read from the database)."""
        self.dead_letter.flush()
        s = self.summary
        s.duplicates = self._dedup.duplicates + self.engine.duplicates
        s.dead_lettered = self.dead_letter.count
        s.decisions_by_kind = dict(self.learning.kinds)
        s.gates = self._gate_counts()
        if self._keys is not None:
            keys = self._keys.list(include_revoked=False)
            s.approvers = sum(1 for k in keys if k.role.value in ("approver", "admin"))
        return s

    def _gate_counts(self) -> dict[str, int]:
        tally = self.learning
        counts = dict.fromkeys(("opened", "pending", "approved", "rejected", "timed_out"), 0)
        waiting: list[str] = []
        for decision_id, gate_id in tally.gate_of.items():
            counts["opened"] += 1
            status = tally.status[decision_id]
            if status in ("executed", "failed"):
                counts["approved"] += 1
            elif status == "rejected":
                counts["rejected"] += 1
            elif status == "timeout":
                counts["timed_out"] += 1
            else:
                waiting.append(gate_id)
        c = control_gates.c
        names = {"pending": "pending", "approved": "approved", "rejected": "rejected"}
        for lo in range(0, len(waiting), 500):
            query = sa.select(c.decision).where(c.gate_id.in_(waiting[lo : lo + 500]))
            with self.control.store.read() as conn:
                for decision in conn.execute(query).scalars():
                    counts[names.get(decision, "timed_out")] += 1
        return counts

    def close(self) -> None:
        """Release the stores, the HTTP clients and the dead-letter file."""
        self.downstream.close()
        if self.pulse is not None:
            self.pulse.close()
        self.ledger.close()
        self.dead_letter.close()

    def __enter__(self) -> AgentRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
