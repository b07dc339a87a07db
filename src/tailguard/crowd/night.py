"""The crowd exchange in service mode: every event-time night, publish, estimate, test, roll out.

``tailguard agents run --crowd`` (and the service's agents) call :meth:`ServiceCrowd.tick` with
each hour's event time; at the first hour of each new day (event time, like the compendium's
nightly curation) it runs the night:

1. publish the areas' tactic -> outcome pairs from the self-learn store and the pulse's
   weekly KPI means of the weeks that closed since the last night (``tactic`` ledger records
   and the exchange's tables, as ``tailguard crowd publish`` does);
2. run the exchange;
3. read every open local test on its measured decisions (SRM check on the units reached, then
   the sequential decision) and record verdicts;
4. for every tactic proven in an area's cluster that the area neither adopted nor tested,
   start a local test through the governed ``crowd_start_local_test`` tool. In service mode
   no unit list is at hand, so every kind of unit is an open population: each zip,
   technician, SKU or customer batch gets its cell on first sight from the test's logged seed;
5. for every test that adopted its tactic, ask for the roll-out through the approval-gated
   ``crowd_adopt_tactic`` tool. The call waits at a gate; once a person approves it, the
   service resumes it, the ``crowd_adoption`` ledger record is written, and from the next
   refresh on every unit of the area gets the tactic (until then its B cell only).

The chooser serves the tests (:class:`~tailguard.crowd.cells.LocalCells`, ``gated``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import polars as pl

from tailguard.agents.catalogue import Catalogue
from tailguard.control import ControlPlane, StepOutcome
from tailguard.crowd.cells import LocalCells
from tailguard.crowd.exchange import ExchangeResult, ExchangeSettings, run_exchange
from tailguard.crowd.publish import EPOCH_MONDAY, period_of, publish, tactic_pairs, weekly_kpis
from tailguard.crowd.store import CrowdStore
from tailguard.crowd.tools import crowd_tools
from tailguard.learning import SelfLearnStore
from tailguard.ledger import Ledger
from tailguard.pulse import PulseStore

#: Every kind of unit, open in service mode (no unit lists).
ALL_KINDS: Final = frozenset({"zip", "tech", "sku", "customers"})

#: The area KPI each unit-level outcome KPI of the catalogue feeds (others keep their name).
KPI_FOR: Final = {
    "jobs": "jobs_per_week",
    "nps_mean": "nps_p10",
    "earnings_week": "earnings_p10_week",
    "recall_pct": "recall_pct_p90",
}


@dataclass
class ServiceCrowd:
    """The nightly exchange beside the area agents (see the module docstring)."""

    ledger: Ledger
    control: ControlPlane
    learning: SelfLearnStore
    pulse: PulseStore | None
    catalogue: Catalogue
    area_types: Mapping[str, str]
    seed: int = 0
    settings: ExchangeSettings = field(default_factory=lambda: ExchangeSettings(group_similar=True))
    store: CrowdStore = field(init=False)
    cells: LocalCells = field(init=False)
    nights: list[dict[str, Any]] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    last_day: str | None = None
    kpis_through: int | None = None
    requested: set[str] = field(default_factory=set)
    last: ExchangeResult | None = None

    def __post_init__(self) -> None:
        self.store = CrowdStore(self.ledger.engine)
        kinds = {e.id: e.kind for e in self.catalogue.entries}
        for tool in crowd_tools(
            ledger=self.ledger,
            store=self.store,
            exchange=self.settings,
            current=lambda: self.last or run_exchange(self.store, self.settings, kinds),
        ):
            if tool.name not in self.control.registry:
                self.control.registry.register(tool)
        self.cells = LocalCells(
            store=self.store,
            ledger=self.ledger,
            catalogue=self.catalogue,
            units={},
            open_kinds=ALL_KINDS,
            gated=True,
        )
        # Roll-outs already recorded are not asked for again (after a restart too).
        self.requested = {r.record_id for r in self.ledger.records(kind="crowd_adoption")}
        self.cells.refresh(0)

    def tick(self, as_of: datetime) -> dict[str, Any] | None:
        """Run the night at the first hour of a new event-time day (None otherwise; the very
        first hour only marks its day)."""
        day = as_of.date().isoformat()
        if day == self.last_day:
            return None
        first = self.last_day is None
        self.last_day = day
        return None if first else self.night(as_of)

    def night(self, now: datetime) -> dict[str, Any]:
        """Publish, run the exchange, read the tests, start new ones, ask for roll-outs."""
        t0 = time.perf_counter()
        pairs = tactic_pairs(self.learning.frame(), now=now, kpi_for=KPI_FOR)
        report = publish(
            ledger=self.ledger,
            store=self.store,
            pairs=pairs,
            kpi_rows=weekly_kpis(self._new_weeks(now), until=now),
            area_types=dict(self.area_types),
        )
        kinds = {e.id: e.kind for e in self.catalogue.entries}
        self.last = result = run_exchange(self.store, self.settings, kinds)
        period = period_of(now)
        self.cells.refresh(len(self.nights))
        closed = self.cells.look(self.learning.frame(), period=period)
        tested = {(t.area_id, t.tactic, t.kpi) for t in self.store.local_tests()}
        started = 0
        for area in sorted(result.clusters):
            todo = [
                x
                for x in result.proven_elsewhere(area)
                if (area, x.tactic, x.kpi) not in tested
                and self.cells.eligible(area, x.tactic) is not None
            ]
            if todo:
                started += self._start_tests(area, todo, period)
        asked = self._request_rollouts(period)
        self.cells.refresh(len(self.nights))
        night = {
            "as_of": now.isoformat(),
            "period": period,
            "published": report.tactics,
            "kpi_rows": report.kpi_rows,
            "lifts": len(result.lifts),
            "discoveries": sum(1 for x in result.lifts if x.discovered),
            "tests_started": started,
            "tests_closed": closed,
            "rollouts_requested": asked,
            "seconds": round(time.perf_counter() - t0, 3),
        }
        self.nights.append(night)
        return night

    def _new_weeks(self, now: datetime) -> pl.DataFrame:
        closed = period_of(now) - 1
        if self.pulse is None or closed == self.kpis_through:
            return pl.DataFrame()
        since = None
        if self.kpis_through is not None:
            since = EPOCH_MONDAY + timedelta(weeks=self.kpis_through + 1)
        self.kpis_through = closed
        return self.pulse.history(since=since, until=now)

    def _start_tests(self, area: str, todo: list[Any], period: int) -> int:
        planned = [(lift, self.cells.unit_kind(lift.tactic) or "zip", None) for lift in todo]
        return start_local_tests(
            self.control, area, planned, period=period, seed=self.seed, refused=self.refused
        )

    def _request_rollouts(self, period: int) -> int:
        """Ask, once per test, for the approval-gated roll-out of every adopted tactic."""
        asked = 0
        for test in self.store.local_tests():
            if test.status != "adopted" or test.test_id in self.requested:
                continue
            self.requested.add(test.test_id)
            run = self.control.start_run(
                "area_agent", f"area-agent:{test.area_id}", "roll out a locally proven tactic"
            )
            step = self.control.execute(
                run,
                "crowd_adopt_tactic",
                {"area_id": test.area_id, "tactic": test.tactic, "kpi": test.kpi, "period": period},
            )
            if step.outcome is StepOutcome.PENDING_APPROVAL:
                asked += 1  # the run stays open at its gate; the service resumes it
                continue
            self.refused[step.outcome.value] += 1
            self.control.finish_run(run, "completed")
        return asked


def start_local_tests(
    control: ControlPlane,
    area: str,
    todo: Sequence[tuple[Any, str, list[str] | None]],
    *,
    period: int,
    seed: int,
    refused: Counter[str],
) -> int:
    """Start a local test in ``area`` of each ``(lift, unit kind, units)`` (units None: an open
    population) through the governed ``crowd_start_local_test``, in one area-agent run; the
    tests started. Refusals are counted in ``refused`` by outcome. Each test's seed is derived
    from ``seed``, the period and its place in ``todo``, so a night is reproducible."""
    run = control.start_run(
        "area_agent", f"area-agent:{area}", "test tactics proven in the cluster"
    )
    started = 0
    for k, (lift, kind, units) in enumerate(todo):
        population: dict[str, Any] = (
            {"open_population": True} if units is None else {"units": units}
        )
        step = control.execute(
            run,
            "crowd_start_local_test",
            {
                "area_id": area,
                "tactic": lift.tactic,
                "kpi": lift.kpi,
                **population,
                "unit_kind": kind,
                "period": period,
                "seed": seed * 1_000_003 + period * 101 + k,
            },
        )
        if step.outcome is StepOutcome.EXECUTED:
            started += 1
        else:
            refused[step.outcome.value] += 1
    control.finish_run(run, "completed")
    return started
