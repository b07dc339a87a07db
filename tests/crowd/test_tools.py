"""The crowd actions as governed tools: start a test, adopt behind a gate, nudge; all on the ledger."""

from __future__ import annotations

from tailguard.clock import FakeClock
from tailguard.control import ApproverList, ControlPlane, StepOutcome, ToolRegistry
from tailguard.crowd.exchange import run_exchange
from tailguard.crowd.store import CrowdStore
from tailguard.crowd.tools import crowd_tools
from tailguard.ledger import Ledger

from .test_exchange import T0, load


def test_start_adopt_and_nudge_go_through_the_control_plane(ledger: Ledger) -> None:
    """A proven tactic starts a test; an unproven one is refused; adoption waits for a person."""
    store = CrowdStore(ledger.engine)
    load(store)
    result = run_exchange(store)
    area, lift = next((a, x) for a in sorted(result.clusters) for x in result.proven_elsewhere(a))
    registry = ToolRegistry()
    for tool in crowd_tools(ledger=ledger, store=store):
        registry.register(tool)
    plane = ControlPlane(
        registry,
        ledger,
        clock=FakeClock(T0),
        approvers=ApproverList(approver_ids=frozenset({"coach-ann"})),
    )
    run = plane.start_run("area_agent", area, "test a proven tactic")
    units = [f"T{i:04d}" for i in range(100)]
    started = plane.execute(
        run,
        "crowd_start_local_test",
        {
            "area_id": area,
            "tactic": lift.tactic,
            "kpi": lift.kpi,
            "units": units,
            "period": 13,
            "seed": 5,
        },
    )
    assert started.outcome is StepOutcome.EXECUTED, started.reason
    assert started.value["status"] == "testing"
    refused = plane.execute(
        run,
        "crowd_start_local_test",
        {
            "area_id": area,
            "tactic": "made_up",
            "kpi": lift.kpi,
            "units": units,
            "period": 13,
            "seed": 5,
        },
    )
    assert refused.outcome is StepOutcome.ERROR
    assert "not proven" in (refused.reason or "")
    [test] = store.local_tests(area_id=area)
    store.update_test(test.test_id, status="adopted", lift=1.0, lift_lo=0.2, lift_hi=1.8)
    adopt = plane.execute(
        run,
        "crowd_adopt_tactic",
        {"area_id": area, "tactic": lift.tactic, "kpi": lift.kpi, "period": 16},
    )
    assert adopt.outcome is StepOutcome.PENDING_APPROVAL
    assert not list(ledger.records(kind="crowd_adoption"))
    plane.decide(adopt.gate_id or "", "approve", "coach-ann")
    resumed = plane.resume(adopt.gate_id or "")
    assert resumed.outcome is StepOutcome.EXECUTED, resumed.reason
    assert [r.fields["area_id"] for r in ledger.records(kind="crowd_adoption")] == [area]
    coach = plane.start_run("coach", "coach-ann", "nudge laggards")
    nudged = plane.execute(coach, "crowd_nudge", {"area_id": area, "tactic": lift.tactic})
    assert nudged.outcome is StepOutcome.EXECUTED
    [record] = ledger.records(kind="crowd_nudge")
    assert record.fields["coach_id"] == "coach-ann"
    assert ledger.verify().ok


def test_a_test_over_an_open_population_and_bad_unit_arguments(ledger: Ledger) -> None:
    """A customer tactic's test lists no units (open_population): it starts with an empty
    split and says so in its ledger record; units and open_population together, or neither,
    are refused with a clear reason and start nothing."""
    store = CrowdStore(ledger.engine)
    load(store)
    result = run_exchange(store)
    area, lift = next((a, x) for a in sorted(result.clusters) for x in result.proven_elsewhere(a))
    registry = ToolRegistry()
    for tool in crowd_tools(ledger=ledger, store=store):
        registry.register(tool)
    plane = ControlPlane(registry, ledger, clock=FakeClock(T0))
    run = plane.start_run("area_agent", area, "test a proven tactic")
    base = {"area_id": area, "tactic": lift.tactic, "kpi": lift.kpi, "period": 13, "seed": 5}
    both = plane.execute(
        run, "crowd_start_local_test", {**base, "units": ["a", "b"], "open_population": True}
    )
    neither = plane.execute(run, "crowd_start_local_test", base)
    for refused in (both, neither):
        assert refused.outcome is StepOutcome.ERROR
        assert "open_population" in (refused.reason or "")
    assert store.local_tests() == []
    started = plane.execute(
        run,
        "crowd_start_local_test",
        {**base, "open_population": True, "unit_kind": "customers"},
    )
    assert started.outcome is StepOutcome.EXECUTED, started.reason
    assert (started.value["units_a"], started.value["units_b"]) == (0, 0)
    [record] = [r.fields for r in ledger.records(kind="crowd_test")]
    assert (record["population"], record["unit_kind"], record["b_units"]) == (
        "open",
        "customers",
        [],
    )
    bad_kind = plane.execute(
        run, "crowd_start_local_test", {**base, "open_population": True, "unit_kind": "planet"}
    )
    assert bad_kind.outcome is StepOutcome.ERROR
    assert "invalid_args" in (bad_kind.reason or "")
