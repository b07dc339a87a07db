"""The crowd's own budgets on its governed tools: a call past a cap is a budget_exceeded step
of the control plane, nothing is done, and the cap is counted from the store and ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tailguard.clock import FakeClock
from tailguard.control import ApproverList, ControlPlane, StepOutcome, ToolRegistry
from tailguard.crowd.budgets import CrowdBudgets
from tailguard.crowd.exchange import run_exchange
from tailguard.crowd.store import CrowdStore
from tailguard.crowd.tools import crowd_tools
from tailguard.errors import InvalidInputError
from tailguard.ledger import Ledger

from .test_exchange import T0, load


def _plane(ledger: Ledger, store: CrowdStore, budgets: CrowdBudgets) -> ControlPlane:
    registry = ToolRegistry()
    for tool in crowd_tools(ledger=ledger, store=store, budgets=budgets):
        registry.register(tool)
    return ControlPlane(
        registry,
        ledger,
        clock=FakeClock(T0),
        approvers=ApproverList(approver_ids=frozenset({"coach-ann"})),
    )


def test_tests_adoptions_and_nudges_stop_at_their_caps(ledger: Ledger) -> None:
    """One open test per area: the second proven tactic is refused as budget_exceeded (a
    skipped step, no test, no crowd_test record); one adoption a week; one nudge per area a
    week, counted from the ledger."""
    store = CrowdStore(ledger.engine)
    load(store)
    result = run_exchange(store)
    area, lifts = next(
        (a, p) for a in sorted(result.clusters) if len(p := result.proven_elsewhere(a)) >= 2
    )
    budgets = CrowdBudgets(open_tests_per_area=1, adoptions_per_area_week=1, nudges_per_area_week=1)
    plane = _plane(ledger, store, budgets)
    run = plane.start_run("area_agent", area, "test proven tactics")
    units = [f"T{i:04d}" for i in range(50)]

    def start(k: int) -> Any:
        return plane.execute(
            run,
            "crowd_start_local_test",
            {
                "area_id": area,
                "tactic": lifts[k].tactic,
                "kpi": lifts[k].kpi,
                "units": units,
                "period": 13,
                "seed": k,
            },
        )

    assert start(0).outcome is StepOutcome.EXECUTED
    refused = start(1)
    assert refused.outcome is StepOutcome.BUDGET_EXCEEDED
    assert "runs 1 local tests (cap 1)" in (refused.reason or "")
    assert len(store.local_tests(area_id=area)) == 1
    assert len(list(ledger.records(kind="crowd_test"))) == 1
    steps = [r.fields for r in ledger.records(kind="step")]
    assert steps[-1]["status"] == "skipped"

    [first] = store.local_tests(area_id=area)
    store.update_test(first.test_id, status="adopted", lift=1.0, lift_lo=0.1, lift_hi=1.9)
    assert start(1).outcome is StepOutcome.EXECUTED  # the first test closed: room again
    second = next(t for t in store.local_tests(area_id=area) if t.test_id != first.test_id)
    store.update_test(second.test_id, status="adopted", lift=1.0, lift_lo=0.1, lift_hi=1.9)

    def adopt(k: int, period: int) -> Any:
        step = plane.execute(
            run,
            "crowd_adopt_tactic",
            {"area_id": area, "tactic": lifts[k].tactic, "kpi": lifts[k].kpi, "period": period},
        )
        assert step.outcome is StepOutcome.PENDING_APPROVAL
        plane.decide(step.gate_id or "", "approve", "coach-ann")
        return plane.resume(step.gate_id or "")

    assert adopt(0, 16).outcome is StepOutcome.EXECUTED
    over = adopt(1, 16)
    assert over.outcome is StepOutcome.BUDGET_EXCEEDED
    assert adopt(1, 17).outcome is StepOutcome.EXECUTED  # next week
    assert len(list(ledger.records(kind="crowd_adoption"))) == 2

    coach = plane.start_run("coach", "coach-ann", "nudge laggards")
    nudge = {"area_id": area, "tactic": lifts[0].tactic}
    assert plane.execute(coach, "crowd_nudge", nudge).outcome is StepOutcome.EXECUTED
    again = plane.execute(coach, "crowd_nudge", nudge)
    assert again.outcome is StepOutcome.BUDGET_EXCEEDED
    other = next(a for a in sorted(result.clusters) if a != area)
    assert (
        plane.execute(coach, "crowd_nudge", {**nudge, "area_id": other}).outcome
        is StepOutcome.EXECUTED
    )
    assert len(list(ledger.records(kind="crowd_nudge"))) == 2
    assert ledger.verify().ok


def test_a_coach_nudges_at_most_the_daily_cap(db_url: str) -> None:
    """The coach's cap counts the last 24 hours of that coach's nudges, on the ledger's clock."""
    clock = FakeClock(T0)
    with Ledger.open(db_url, clock=clock) as ledger:
        store = CrowdStore(ledger.engine)
        plane = _plane(ledger, store, CrowdBudgets(nudges_per_coach_day=2))
        coach = plane.start_run("coach", "coach-bo", "nudge")
        outcomes = [
            plane.execute(coach, "crowd_nudge", {"area_id": f"PA-{i:04d}", "tactic": "t"}).outcome
            for i in range(3)
        ]
        assert outcomes == [StepOutcome.EXECUTED, StepOutcome.EXECUTED, StepOutcome.BUDGET_EXCEEDED]
        clock.advance(timedelta(hours=25))
        coach2 = plane.start_run("coach", "coach-bo", "nudge again")
        step = plane.execute(coach2, "crowd_nudge", {"area_id": "PA-0009", "tactic": "t"})
        assert step.outcome is StepOutcome.EXECUTED


def test_budgets_from_settings_refuse_unknown_keys_and_bad_values() -> None:
    """Known keys with integers or null are read; anything else is a clear error."""
    assert CrowdBudgets.from_mapping({"open_tests_per_area": 2, "nudges_per_coach_day": None}) == (
        CrowdBudgets(open_tests_per_area=2, nudges_per_coach_day=None)
    )
    with pytest.raises(InvalidInputError, match="unknown crowd budget"):
        CrowdBudgets.from_mapping({"tests_per_day": 3})
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(InvalidInputError, match="integer >= 0 or null"):
            CrowdBudgets.from_mapping({"open_tests_per_area": bad})


@given(
    st.dictionaries(
        st.one_of(st.sampled_from(["open_tests_per_area", "nudges_per_coach_day"]), st.text()),
        st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=5), st.booleans()),
        max_size=4,
    )
)
def test_budget_settings_parse_or_fail_clearly(data: dict[str, Any]) -> None:
    """A mapping of known keys to integers >= 0 or null gives budgets equal to it; any other
    raises InvalidInputError naming the crowd budget."""
    known = {"open_tests_per_area", "tests_per_area_week", "adoptions_per_area_week"}
    known |= {"nudges_per_area_week", "nudges_per_coach_day"}
    valid = set(data) <= known and all(
        v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
        for v in data.values()
    )
    if not valid:
        with pytest.raises(InvalidInputError, match="crowd budget"):
            CrowdBudgets.from_mapping(data)
        return
    budgets = CrowdBudgets.from_mapping(data)
    for key, value in data.items():
        assert getattr(budgets, key) == value
