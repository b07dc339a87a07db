"""The crowd exchange inside ``tailguard demo``: nightly publishing, the exchange, local tests.

Every simulated midnight of the agents-on arm, :meth:`DemoCrowd.night`:

1. publishes each area's tactic -> outcome pairs from the self-learn store, the pulse's
   weekly KPI means (closed weeks only) and the area types, exactly as ``tailguard crowd
   publish`` does (``tactic`` ledger records and the exchange's tables in ``ledger.db``);
2. runs the exchange (clusters, lift per tactic and cluster, FDR-controlled discoveries);
3. for every tactic proven in an area's cluster that the area has not adopted, starts a local
   A/B test through the control plane's ``crowd_start_local_test`` tool (execute_low), on
   the units the tactic's catalogue entry targets: the area's zips, technicians or SKUs
   (listed), or the customer batches it credits (an open population);
4. reads every open test on its units' measured decisions and records a decisive verdict
   (:class:`tailguard.crowd.cells.LocalCells`).

On the first night a week has closed, the exchange is seeded once with a simulated earlier
period of the demo's own areas (:mod:`tailguard.crowd.history`): a two-week run cannot prove
anything alone. ``summary.json`` labels it (``seeded_history``) and its adoptions are not
counted as published tactics nor earn reputation. With ``group_similar`` the exchange also
estimates families of similar tactics (:mod:`tailguard.crowd.families`).

The area agents' chooser serves the tests: a decision on a unit of a test's B cell plays the
tactic, one on the A cell follows the policy, and an adopted tactic is played on every unit of
the area.

The unit-level outcome KPIs of the catalogue are published under the area KPI they feed
(:data:`KPI_FOR`), since the exchange estimates lifts on the pulse's area KPIs.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from tailguard.control import ControlPlane
from tailguard.crowd.exchange import (
    LOWER_IS_BETTER,
    ExchangeResult,
    ExchangeSettings,
    run_exchange,
)
from tailguard.crowd.history import History, HistorySettings, earlier_period
from tailguard.crowd.night import KPI_FOR, start_local_tests
from tailguard.crowd.publish import (
    EPOCH_MONDAY,
    period_of,
    publish,
    tactic_name,
    tactic_pairs,
    weekly_kpis,
)
from tailguard.crowd.reputation import innovation_delta
from tailguard.crowd.store import CrowdStore
from tailguard.crowd.tools import crowd_tools
from tailguard.demo.cells import LocalCells, describe, eligible_units
from tailguard.learning import SelfLearnStore
from tailguard.ledger import Ledger
from tailguard.pulse import PulseStore


@dataclass
class DemoCrowd:
    """The exchange of one demo run: call :meth:`night` at each simulated midnight."""

    ledger: Ledger
    control: ControlPlane
    learning: SelfLearnStore
    pulse: PulseStore | None
    area_types: dict[str, str]
    units: dict[str, list[str]]
    seed: int
    settings: ExchangeSettings = field(default_factory=ExchangeSettings)
    store: CrowdStore = field(init=False)
    nights: list[dict[str, Any]] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    last: ExchangeResult | None = None
    kpis_through: int | None = None
    cells: LocalCells | None = None
    #: Seed the exchange with a simulated earlier period (None: the run's own history only).
    history_settings: HistorySettings | None = None
    history: History | None = None
    #: The tactic ids the seeded history added (an area's own earlier publication wins).
    seeded_ids: set[str] = field(default_factory=set)
    #: Catalogue entry -> kind (families of entries of one kind, with ``group_similar``).
    kinds: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store = CrowdStore(self.ledger.engine)
        tools = crowd_tools(
            ledger=self.ledger, store=self.store, exchange=self.settings, current=self._result
        )
        for tool in tools:
            if tool.name not in self.control.registry:
                self.control.registry.register(tool)

    def _result(self) -> ExchangeResult:
        # The night's exchange, run just before the tests start (nothing is published between).
        if self.last is not None:
            return self.last
        return run_exchange(self.store, self.settings, self.kinds)

    @classmethod
    def for_world(
        cls, world: Any, *, seed: int, history: HistorySettings | None = None
    ) -> DemoCrowd:
        """The exchange wired to a :class:`tailguard.agents.world.AgentWorld`.

        ``history``: the simulated earlier period the exchange is seeded with once the first
        week has closed (default :class:`HistorySettings`; see :mod:`tailguard.crowd.history`).
        """
        areas = world.sim.net.areas_frame()
        crowd = cls(
            ledger=world.ledger,
            control=world.control,
            learning=world.learning,
            pulse=world.agents.pulse,
            area_types=dict(zip(areas["area_id"], areas["area_type"], strict=True)),
            units=dict(zip(areas["area_id"], areas["zips"].to_list(), strict=True)),
            seed=seed,
            history_settings=history or HistorySettings(),
            settings=ExchangeSettings(group_similar=True),
            kinds={e.id: e.kind for e in world.agents.catalogue.entries},
        )
        crowd.cells = LocalCells(
            store=crowd.store,
            ledger=crowd.ledger,
            catalogue=world.agents.catalogue,
            units=crowd.units,
            unit_sets=eligible_units(world.sim.net),
        )
        world.agents.chooser.cells = crowd.cells
        return crowd

    def night(self, now: datetime) -> dict[str, Any]:
        """Publish, run the exchange, start local tests of tactics proven elsewhere."""
        t0 = time.perf_counter()
        pairs = tactic_pairs(self.learning.frame(), now=now, kpi_for=KPI_FOR)
        report = publish(
            ledger=self.ledger,
            store=self.store,
            pairs=pairs,
            kpi_rows=weekly_kpis(self._new_weeks(now), until=now),
            area_types=self.area_types,
        )
        seeded = self._seed_history() if report.kpi_rows else False
        if self.last is None or report.tactics or report.kpi_rows or seeded:
            self.last = run_exchange(self.store, self.settings, self.kinds)
        result = self.last
        period = period_of(now)
        closed = 0
        if self.cells is not None:
            self.cells.refresh(len(self.nights))
            closed = self.cells.look(self.learning.frame(), period=period)
        tested = {(t.area_id, t.tactic, t.kpi) for t in self.store.local_tests()}
        started = 0
        for area in sorted(result.clusters):
            todo = [
                (x, found)
                for x in result.proven_elsewhere(area)
                if (area, x.tactic, x.kpi) not in tested
                and (found := self._eligible(area, x.tactic)) is not None
            ]
            if todo:
                started += self._start_tests(area, todo, period)
        if self.cells is not None and started:
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
            "seconds": round(time.perf_counter() - t0, 3),
        }
        self.nights.append(night)
        return night

    def _seed_history(self) -> bool:
        """Once the first week has closed: publish the simulated earlier period before it, one
        tactic per catalogue entry (its own level), on the area KPI its outcome feeds."""
        if self.history_settings is None or self.history is not None or self.cells is None:
            return False
        published = self.store.kpis_frame()
        if published.is_empty():
            return False
        first = int(published["period"].min())  # type: ignore[arg-type]
        levels = published.filter(pl.col("period") == first).select("area_id", "kpi", "value")
        tactics = [
            (tactic_name(e.id, e.level_args(0)), KPI_FOR.get(e.outcome.kpi, e.outcome.kpi))
            for e in self.cells.catalogue.entries
            if e.outcome is not None
        ]
        self.history = earlier_period(
            levels,
            self.area_types,
            tactics,
            end_period=first,
            seed=self.seed * 7919 + first,
            settings=self.history_settings,
            lower_is_better=LOWER_IS_BETTER,
        )
        before = set(self.store.tactics_frame()["tactic_id"].to_list())
        self.history.publish(self.store)
        self.seeded_ids = set(self.store.tactics_frame()["tactic_id"].to_list()) - before
        return True

    def _new_weeks(self, now: datetime) -> pl.DataFrame:
        """The pulse rows of weeks that closed since the last night (empty most nights): a
        closed week's values are final, so reading the whole history again adds nothing."""
        closed = period_of(now) - 1
        if self.pulse is None or closed == self.kpis_through:
            return pl.DataFrame()
        since = None
        if self.kpis_through is not None:
            since = EPOCH_MONDAY + timedelta(weeks=self.kpis_through + 1)
        self.kpis_through = closed
        return self.pulse.history(since=since, until=now)

    def _eligible(self, area: str, tactic: str) -> tuple[str, list[str] | None] | None:
        """The unit kind and eligible units of a test of ``tactic`` in ``area`` (units None:
        an open population); without served cells, the area's zips."""
        if self.cells is not None:
            return self.cells.eligible(area, tactic)
        zips = list(self.units.get(area, ()))
        return ("zip", zips) if len(zips) >= 2 else None

    def _start_tests(
        self, area: str, todo: list[tuple[Any, tuple[str, list[str] | None]]], period: int
    ) -> int:
        planned = [(lift, kind, units) for lift, (kind, units) in todo]
        return start_local_tests(
            self.control, area, planned, period=period, seed=self.seed, refused=self.refused
        )

    def summary(self, *, start: datetime, weeks: int) -> dict[str, Any]:
        """The ``crowd`` key of ``summary.json`` (``start``: the agents' first hour)."""
        start_period = period_of(start) - 1
        tactics = self.store.tactics_frame()
        # What the agents published (the seeded history's adoptions are nobody's tactics: no
        # counts, no reputation; they stay in the spread, which the report says).
        real = tactics
        if self.seeded_ids and tactics.height:
            real = tactics.filter(~pl.col("tactic_id").is_in(sorted(self.seeded_ids)))
        tests = self.store.local_tests()
        status = Counter(t.status for t in tests)
        result = self.last
        leaders = innovation_delta(real, tests)[:5]
        discovered = [] if result is None else [x for x in result.lifts if x.discovered]
        return {
            "nights": len(self.nights),
            "seconds": round(sum(n["seconds"] for n in self.nights), 3),
            "published_tactics": real.height,
            "distinct_tactics": real.select("tactic", "kpi").n_unique() if real.height else 0,
            "publishing_areas": real["area_id"].n_unique() if real.height else 0,
            "clusters": 0 if result is None else len(set(result.clusters.values())),
            "lifts_estimated": 0 if result is None else len(result.lifts),
            "discoveries": [
                {
                    "tactic": x.tactic,
                    "kpi": x.kpi,
                    "cluster": x.cluster,
                    "lift": x.lift,
                    "ci95": list(x.ci95),
                    "adopters": x.adopters,
                    "p_uplift": x.p_uplift,
                }
                for x in sorted(discovered, key=lambda x: (-x.lift, x.tactic, x.cluster))
            ],
            "tests": {
                "started": len(tests),
                "adopted": status.get("adopted", 0),
                "dropped": status.get("dropped", 0),
                "stopped": status.get("stopped_guard", 0) + status.get("stopped_srm", 0),
                "open": status.get("testing", 0),
                "refused": dict(sorted(self.refused.items())),
                **(describe(self.cells) if self.cells is not None else {}),
            },
            "innovation_delta_leaders": [
                {"area_id": r.area_id, "points": r.points, "replications": r.replications}
                for r in leaders
            ],
            "spread": spread(tactics, tests, start_period=start_period, weeks=weeks),
            "seeded_history": None if self.history is None else self.history.describe(),
            "by_night": self.nights,
        }


def spread(
    tactics: pl.DataFrame, tests: list[Any], *, start_period: int, weeks: int
) -> dict[str, Any] | None:
    """One tactic's spread: the areas using it (published adoption or a local test) by week.

    The tactic is the one local tests took furthest, else the one most areas adopted. Week 0
    is the warm-up's last week; week ``w`` counts areas using it by the end of demo week ``w``.
    """
    if tactics.is_empty():
        return None
    by_tests = Counter((t.tactic, t.kpi) for t in tests)
    by_areas = Counter(zip(tactics["tactic"].to_list(), tactics["kpi"].to_list(), strict=True))
    pick = max(by_areas, key=lambda k: (by_tests.get(k, 0), by_areas[k], k))
    mine = tactics.filter((pl.col("tactic") == pick[0]) & (pl.col("kpi") == pick[1]))
    adopted = mine["adopted_period"].to_list()
    tested = [t.started_period for t in tests if (t.tactic, t.kpi) == pick]
    rows = []
    for w in range(weeks + 1):
        last = start_period + w
        rows.append(
            {
                "week": w,
                "period": last,
                "adopted_areas": sum(1 for p in adopted if p <= last),
                "testing_areas": sum(1 for p in tested if p <= last),
            }
        )
    return {"tactic": pick[0], "kpi": pick[1], "areas_by_week": rows}
