"""The operations scheduler: campaigns advanced and the dev swarm scouting and advancing on
their own, one tick at a time.

A tick is a window of the clock (``every``: 15 minutes by default); tick ``n`` covers
``[n * every, (n + 1) * every)`` since the epoch. The first process to claim a tick does its
work; the claim is a row of ``tailguard_ops_switches`` named ``schedule:<name>:<n>`` whose
insert fails for every other process (the primary key), so two schedulers on one database,
or one restarted within the same window, never work the same tick twice. Each tick:

1. every ``active`` campaign of the autopilot gets one :meth:`Autopilot.advance` (which is
   itself safe to repeat: sends and interviews are queued once, gates adopted, never twice);
2. with a swarm: the scouts run and file new findings (the swarm's ``daily_proposals`` cap,
   the control plane's daily run cap of its initiator, defers the rest to the next UTC day),
   then every proposal not finished is advanced (built, tested, proposed at its gate, applied
   once a person approved it);
3. a ``schedule_tick`` ledger record says what was done.

One campaign or proposal failing is recorded in the tick's ``errors`` and does not stop the
others. Claims older than a day are pruned.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from tailguard.clock import Clock, format_ts
from tailguard.control import RunLedger
from tailguard.errors import InvalidInputError, TailguardError
from tailguard.ops.campaign import Autopilot
from tailguard.ops.store import OpsStore
from tailguard.ops.swarm import SOURCES, Swarm
from tailguard.ops.swarm import TERMINAL as PROPOSAL_DONE

DEFAULT_EVERY: Final = timedelta(minutes=15)
MIN_EVERY: Final = timedelta(minutes=1)
MAX_EVERY: Final = timedelta(days=1)
_EVERY = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")
_UNIT: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> timedelta:
    """``15m``, ``1h``, ``90s``, ``1d``: a tick length between 1 minute and 1 day.

    Raises:
        InvalidInputError: anything else.
    """
    match = _EVERY.match(text)
    if match is None:
        raise InvalidInputError(f"--every: {text!r} is not a duration like 15m, 1h, 90s or 1d")
    every = timedelta(seconds=int(match[1]) * _UNIT[match[2]])
    if not MIN_EVERY <= every <= MAX_EVERY:
        raise InvalidInputError(f"--every: {text!r} is outside 1m..1d")
    return every


def tick_of(now: datetime, every: timedelta) -> int:
    """The number of the tick ``now`` falls in."""
    return int(now.timestamp() // every.total_seconds())


@dataclass(frozen=True, kw_only=True, slots=True)
class SwarmJob:
    """What the scheduler asks of the dev swarm each tick."""

    swarm: Swarm
    sources: Sequence[str] = SOURCES
    limit: int = 20


class Scheduler:
    """Ticks of autonomous operations on one database.

    Args:
        ledger: where the claims live and the ``schedule_tick`` records go.
        clock: the time source (a FakeClock in tests).
        autopilot: the campaigns to advance (None: none).
        swarm: the dev swarm's scouting and advancing (None: none).
        every: the tick length.
        name: the schedule's name (two schedules of different names tick independently).
    """

    def __init__(
        self,
        ledger: RunLedger,
        *,
        clock: Clock,
        autopilot: Autopilot | None = None,
        swarm: SwarmJob | None = None,
        every: timedelta = DEFAULT_EVERY,
        name: str = "ops",
    ) -> None:
        if not MIN_EVERY <= every <= MAX_EVERY:
            raise InvalidInputError(f"a tick lasts between 1 minute and 1 day, not {every}")
        self.ledger = ledger
        self.clock = clock
        self.autopilot = autopilot
        self.swarm = swarm
        self.every = every
        self.name = name
        self.store = OpsStore(ledger.engine)

    def tick(self) -> dict[str, Any]:
        """Claim the current tick and do its work; ``claimed`` False when another process (or
        an earlier call) already did this tick."""
        now = self.clock.now()
        n = tick_of(now, self.every)
        report: dict[str, Any] = {
            "schedule": self.name,
            "tick": n,
            "at": format_ts(now),
            "claimed": False,
            "campaigns": [],
            "swarm": None,
            "errors": [],
        }
        if not self.store.claim(f"schedule:{self.name}:{n}", {"at": format_ts(now)}, now=now):
            return report
        report["claimed"] = True
        self._prune(now, n)
        if self.autopilot is not None:
            report["campaigns"] = self._campaigns(self.autopilot, report["errors"])
        if self.swarm is not None:
            report["swarm"] = self._swarm(self.swarm, report["errors"])
        self.ledger.append(
            "schedule_tick",
            {
                "schedule_tick_id": f"{self.name}:{n}",
                "schedule": self.name,
                "tick": n,
                "at": report["at"],
                "campaigns": len(report["campaigns"]),
                "filed": (report["swarm"] or {}).get("filed", 0),
                "errors": len(report["errors"]),
            },
        )
        return report

    def _campaigns(self, pilot: Autopilot, errors: list[str]) -> list[dict[str, Any]]:
        done = []
        for row in pilot.store.campaigns():
            if row.status != "active":
                continue
            try:
                after = pilot.advance(row.campaign_id)
            except TailguardError as exc:
                errors.append(f"{row.campaign_id}: {exc}")
                continue
            done.append({"campaign_id": row.campaign_id, "status": after.status})
        return done

    def _swarm(self, job: SwarmJob, errors: list[str]) -> dict[str, Any]:
        swarm = job.swarm
        filed: list[str] = []
        try:
            filed = [r.proposal_id for r in swarm.scout(job.sources, limit=job.limit)]
        except TailguardError as exc:
            errors.append(f"scout: {exc}")
        advanced = []
        for row in swarm.store.list():
            if row.status in PROPOSAL_DONE:
                continue
            try:
                after = swarm.advance(row.proposal_id)
            except TailguardError as exc:
                errors.append(f"{row.proposal_id}: {exc}")
                continue
            advanced.append({"proposal_id": row.proposal_id, "status": after.status})
        return {"filed": len(filed), "deferred": swarm.deferred, "advanced": advanced}

    def _prune(self, now: datetime, n: int) -> None:
        keep_from = n - max(1, int(timedelta(days=1) / self.every))
        prefix = f"schedule:{self.name}:"
        for key in self.store.switches(prefix):
            tail = key.removeprefix(prefix)
            if tail.isdigit() and int(tail) < keep_from:
                self.store.drop_switch(key)

    def run(
        self,
        *,
        ticks: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[dict[str, Any]]:
        """Tick now, then at the start of every following tick; ``ticks`` bounds how many
        (None: forever). Yields each tick's report."""
        count = 0
        while ticks is None or count < ticks:
            yield self.tick()
            count += 1
            if ticks is not None and count >= ticks:
                return
            now = self.clock.now()
            start_next = (tick_of(now, self.every) + 1) * self.every.total_seconds()
            sleep(max(0.0, start_next - now.timestamp()))
