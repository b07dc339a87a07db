"""The weekly cycle in a live deployment: week snapshots, the cycle at its hour, the levers.

A live ``tailguard agents run`` (:class:`~tailguard.agents.runner.AgentRunner`) calls
:meth:`LiveWeekly.hour` after each acting tick. When the hour ending at ``as_of`` holds the
scheduled moment (:class:`WeekSchedule`, default Sunday 23:00 in the network's time zone,
event time), the week ends at ``as_of``:

1. the levers carried out during the week now ending are closed (``okr_lever`` records,
   :meth:`tailguard.agents.levers.LeverActions.close_week`);
2. the week's per-unit aggregates are kept in the ledger's database
   (:mod:`tailguard.weekly.dbweeks`: no file beside it, SQLite or PostgreSQL alike);
3. with ``cycle`` on, the weekly cycle (:func:`tailguard.weekly.run_week`) starts in its own
   process, the runner waits until it has committed the OKRs (before its pages are rendered)
   and goes on while the pages are written;
4. the levers of the OKRs committed for the week just ended are carried out from this hour
   (the first of the next week), through the control plane.

With ``cycle`` off the runner only keeps the snapshots: ``tailguard week --db URL --as-of TS``
runs the cycle on demand, and the runner carries out the OKRs' levers at the first tick after
they are committed (until the next week's end). A week end that falls in the warm-up, or in
hours an earlier runner on these stores already acted in, is skipped; a week already kept is
not rewritten nor its cycle run again.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.process
import multiprocessing.synchronize
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tailguard.agents.levers import LeverActions
from tailguard.clock import format_ts
from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger
from tailguard.metrics.state import Scorecards
from tailguard.weekly.dbweeks import WeekStore
from tailguard.weekly.okr import committed_okrs
from tailguard.weekly.snapshot import build_week

_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC: Final = re.compile(r"^\s*([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)
#: The exit code of a cycle process that failed and said why (in ERROR.txt).
_FAILED: Final = 3


@dataclass(frozen=True, slots=True)
class WeekSchedule:
    """When a week ends: a weekday and a time of day in the network's time zone.

    Attributes:
        weekday: 0 (Monday) .. 6 (Sunday).
        at: the time of day, local.
        tz: the IANA time zone (``UTC``, ``America/Chicago``).
    """

    weekday: int = 6
    at: time = time(23, 0)
    tz: str = "UTC"

    @classmethod
    def parse(cls, spec: str, tz: str = "UTC") -> WeekSchedule | None:
        """``"sun 23:00"`` (any weekday's first three letters, 24 h time), or ``off`` (None).

        Raises:
            InvalidInputError: a spec or a time zone that cannot be read.
        """
        if spec.strip().lower() == "off":
            return None
        m = _SPEC.match(spec)
        if m is None or m.group(1).lower() not in _DAYS:
            raise InvalidInputError(
                f"week end {spec!r}: give a weekday and a time, as 'sun 23:00', or 'off'"
            )
        hour, minute = int(m.group(2)), int(m.group(3))
        if hour > 23 or minute > 59:
            raise InvalidInputError(f"week end {spec!r}: {hour}:{minute:02d} is not a time of day")
        _zone(tz)
        return cls(_DAYS.index(m.group(1).lower()), time(hour, minute), tz)

    def describe(self) -> str:
        """As given: ``sun 23:00 UTC``."""
        return f"{_DAYS[self.weekday]} {self.at:%H:%M} {self.tz}"

    def moment_in(self, lo: datetime, hi: datetime) -> datetime | None:
        """The scheduled moment in ``(lo, hi]`` (UTC), if one falls there."""
        zone = _zone(self.tz)
        local = hi.astimezone(zone)
        day = local.date() - timedelta(days=(local.weekday() - self.weekday) % 7)
        moment = datetime.combine(day, self.at, tzinfo=zone)
        if moment > local:
            moment -= timedelta(days=7)
            moment = datetime.combine(moment.date(), self.at, tzinfo=zone)
        found = moment.astimezone(UTC)
        return found if lo < found <= hi else None


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInputError(f"unknown time zone {tz!r} (an IANA name, as UTC)") from exc


@dataclass(slots=True)
class WeeklyTally:
    """What the weekly cycle did during a run (the ``weekly`` part of the run summary)."""

    schedule: str = "off"
    snapshots: list[str] = field(default_factory=list)
    cycles: list[str] = field(default_factory=list)
    levers_applied: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "schedule": self.schedule,
            "snapshots": list(self.snapshots),
            "cycles": list(self.cycles),
            "lever_calls": dict(self.levers_applied),
            "errors": self.errors[-5:],
        }


@dataclass(frozen=True, slots=True)
class _Cycle:
    as_of: datetime
    proc: multiprocessing.process.BaseProcess
    committed: multiprocessing.synchronize.Event
    out: Path


class LiveWeekly:
    """The weekly cycle of a live runner (see the module docstring).

    Args:
        schedule: when weeks end.
        ledger: the runner's ledger (snapshots go to its database; OKRs are read there).
        ledger_url: its URL, for the cycle's process.
        pulse_url: the runner's pulse store, for the cycle's trends.
        engine: the runner's scorecard state (the week's aggregates are read from it).
        levers: the lever actions of the area agents.
        out_dir: where each cycle's pages go (``<out_dir>/<YYYY-MM-DD>/``).
        cycle: run the cycle at each week's end (else only keep the snapshots).
    """

    def __init__(
        self,
        *,
        schedule: WeekSchedule,
        ledger: Ledger,
        ledger_url: str,
        pulse_url: str | None,
        engine: Scorecards,
        levers: LeverActions,
        out_dir: Path,
        cycle: bool = True,
    ) -> None:
        self.schedule = schedule
        self.ledger = ledger
        self.ledger_url = ledger_url
        self.pulse_url = pulse_url
        self.engine = engine
        self.levers = levers
        self.out_dir = Path(out_dir)
        self.cycle = cycle
        self.store = WeekStore(ledger.engine)
        self.tally = WeeklyTally(schedule=schedule.describe())
        self._cycles: list[_Cycle] = []
        self._pending: str | None = None  # a week whose OKRs are awaited (cycle off)

    def hour(self, as_of: datetime) -> None:
        """After the acting tick at ``as_of``: end the week if it ends in this hour."""
        self.levers.reconcile()
        if self.schedule.moment_in(as_of - timedelta(hours=1), as_of) is not None:
            self.end_week(as_of)
        elif self._pending is not None:
            self._apply(self._pending)

    def poll(self) -> None:
        """Between ticks: resume the lever calls whose gates people approved."""
        self.levers.reconcile()

    def end_week(self, as_of: datetime) -> None:
        """Close the week ending at ``as_of``: levers, snapshot, cycle, next week's levers."""
        week_of = as_of.astimezone(UTC).date().isoformat()
        self.levers.close_week()
        self._pending = None
        frames = build_week(self.engine, as_of)
        if frames["areas"].height == 0 or not self.store.write(
            frames, as_of, self.engine.window_days
        ):
            return  # no area yet, or kept by an earlier runner (its cycle ran then)
        self.tally.snapshots.append(week_of)
        if not self.cycle:
            self._pending = week_of  # `tailguard week --db` commits; the levers follow
            return
        started = self._start(as_of)
        while not started.committed.wait(0.2) and started.proc.is_alive():
            pass
        if not started.committed.is_set():
            self.tally.errors.append(f"{week_of}: the weekly cycle ended before its OKRs")
            return
        self.tally.cycles.append(week_of)
        self._apply(week_of)

    def _apply(self, week_of: str) -> None:
        if not committed_okrs(self.ledger, week_of):
            self._pending = week_of
            return
        self._pending = None
        self.tally.levers_applied[week_of] = self.levers.apply_week(week_of)

    def _start(self, as_of: datetime) -> _Cycle:
        ctx = multiprocessing.get_context("spawn")  # Polars and fork do not mix
        out = self.out_dir / as_of.astimezone(UTC).date().isoformat()
        committed = ctx.Event()
        proc = ctx.Process(
            target=_run_cycle,
            args=(self.ledger_url, self.pulse_url, as_of, str(out), committed),
            name=f"tailguard-week-{out.name}",
        )
        before = os.environ.get("POLARS_MAX_THREADS")
        os.environ["POLARS_MAX_THREADS"] = "1"  # it gives way to the agents
        try:
            proc.start()
        finally:
            if before is None:
                os.environ.pop("POLARS_MAX_THREADS", None)
            else:
                os.environ["POLARS_MAX_THREADS"] = before
        started = _Cycle(as_of, proc, committed, out)
        self._cycles.append(started)
        return started

    def close(self) -> None:
        """Wait for the cycles still rendering their pages; note those that failed."""
        for c in self._cycles:
            c.proc.join()
            if c.proc.exitcode not in (0, None):
                day = c.as_of.astimezone(UTC).date().isoformat()
                self.tally.errors.append(
                    f"{day}: the weekly cycle failed (exit {c.proc.exitcode}; {c.out}/ERROR.txt)"
                )
        self._cycles = []


def _run_cycle(
    ledger_url: str,
    pulse_url: str | None,
    as_of: datetime,
    out: str,
    committed: multiprocessing.synchronize.Event,
) -> None:
    """The weekly cycle of one week in its own process (HTML pages; PDFs: `tailguard week`)."""
    os.nice(10)  # the agents are the critical path
    from tailguard.weekly import run_week

    def tell(stage: str, _done: int, _total: int) -> None:
        if stage == "commit":
            committed.set()

    try:
        run_week(
            ledger_url, as_of, Path(out), workers=1, pdf=False, pulse_url=pulse_url, progress=tell
        )
    except Exception as exc:  # the runner goes on; its summary says what happened
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "ERROR.txt").write_text(
            f"weekly cycle for the week to {format_ts(as_of)} failed: {exc}\n", encoding="utf-8"
        )
        raise SystemExit(_FAILED) from None
