"""The crowd exchange in service mode: a night starts open-population tests of proven
catalogue tactics, an adopted test's roll-out waits at an approval gate, and only the
approved roll-out serves every unit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from tailguard.agents.catalogue import default_catalogue
from tailguard.clock import FakeClock
from tailguard.control import ApproverList, ControlPlane, StepOutcome, ToolRegistry
from tailguard.crowd.exchange import LOWER_IS_BETTER
from tailguard.crowd.history import HistorySettings, earlier_period
from tailguard.crowd.night import KPI_FOR, ServiceCrowd
from tailguard.crowd.publish import period_of, tactic_name
from tailguard.learning import SelfLearnStore
from tailguard.ledger import Ledger

CAT = default_catalogue()
TYPES = ("urban", "suburban", "rural")
AREAS = {f"PA-{i:04d}": TYPES[i % 3] for i in range(1, 61)}


def _now(days: int = 0) -> datetime:
    # Relative to the real date so the clock-ahead run sees the same shape.
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days)


def _seed_store(crowd: ServiceCrowd, end_period: int) -> None:
    """Publish 12 simulated weeks with catalogue tactics (as another deployment would have)."""
    rng = np.random.default_rng(2)
    kpis = ("ftf_pct", "lateness_p90_min", "nps_p10", "jobs_per_week")
    levels = pl.DataFrame(
        [{"area_id": a, "kpi": k, "value": float(rng.normal(50, 5))} for a in AREAS for k in kpis]
    )
    tactics = [
        (tactic_name(e.id, e.level_args(0)), KPI_FOR.get(e.outcome.kpi, e.outcome.kpi))
        for e in CAT.entries
        if e.outcome is not None
    ]
    history = earlier_period(
        levels,
        AREAS,
        tactics,
        end_period=end_period,
        seed=3,
        settings=HistorySettings(adopt_share=0.6),
        lower_is_better=LOWER_IS_BETTER,
    )
    crowd.store.put_areas(AREAS)
    history.publish(crowd.store)


def test_a_service_night_tests_rolls_out_behind_a_gate_and_serves_after_approval(
    db_url: str,
) -> None:
    clock = FakeClock(_now())
    with Ledger.open(db_url, clock=clock) as ledger:
        plane = ControlPlane(
            ToolRegistry(),
            ledger,
            clock=clock,
            approvers=ApproverList(approver_ids=frozenset({"coach-ann"})),
        )
        crowd = ServiceCrowd(
            ledger=ledger,
            control=plane,
            learning=SelfLearnStore(ledger.engine),
            pulse=None,
            catalogue=CAT,
            area_types=AREAS,
            seed=4,
        )
        _seed_store(crowd, period_of(clock.now()))
        assert crowd.tick(clock.now()) is None  # the first hour only marks its day
        assert crowd.tick(clock.now() + timedelta(hours=5)) is None  # same day
        clock.advance(timedelta(days=1))
        night = crowd.tick(clock.now())
        assert night is not None
        assert night["discoveries"] > 0
        assert night["tests_started"] > 0
        tests = crowd.store.local_tests()
        assert len(tests) == night["tests_started"]
        records = [r.fields for r in ledger.records(kind="crowd_test")]
        assert {r["population"] for r in records} == {"open"}
        assert {r["unit_kind"] for r in records} <= {"zip", "tech", "sku", "customers"}
        assert crowd.cells.unservable == 0

        # A test's verdict adopted its tactic: the roll-out is asked for once, at a gate.
        test = tests[0]
        crowd.store.update_test(test.test_id, status="adopted", lift=1.0, lift_lo=0.2, lift_hi=2)
        clock.advance(timedelta(days=1))
        second = crowd.tick(clock.now())
        assert second is not None
        assert second["rollouts_requested"] == 1
        assert not list(ledger.records(kind="crowd_adoption"))
        [gate] = [r.fields for r in ledger.records(kind="gate")]
        arm = crowd.cells.by_area[test.area_id]
        [served] = [t for t in arm if t.test.test_id == test.test_id]
        assert served.adopted is False  # before approval: B cell only
        unit_a = next(f"u{i}" for i in range(500) if not served.in_b(f"u{i}"))
        assert crowd.cells.cell(test.area_id, unit_a, [served.arm])[1] == "A"

        plane.decide(gate["gate_id"], "approve", "coach-ann")
        resumed = plane.resume(gate["gate_id"])
        assert resumed.outcome is StepOutcome.EXECUTED, resumed.reason
        crowd.cells.refresh()
        assert crowd.cells.cell(test.area_id, unit_a, [served.arm])[1] == "B"
        clock.advance(timedelta(days=1))
        third = crowd.tick(clock.now())
        assert third is not None
        assert third["rollouts_requested"] == 0  # asked once only
        assert ledger.verify().ok
