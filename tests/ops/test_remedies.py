"""The remedy catalogue as governed tools: gated, role-bound, and a budget never above its cap."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tailguard.clock import FakeClock
from tailguard.control import ApproverList, ControlPlane, StepOutcome, ToolRegistry
from tailguard.learning.versions import PolicyStore
from tailguard.ledger import Ledger
from tailguard.ops import OpsStore, RemedyContext, register_remedies, remedy_tools
from tailguard.ops.remedies import RAISE_BUDGET, RESTART_WORKER, budget_key


def test_every_consequential_remedy_waits_for_approval() -> None:
    """Each remedy that changes the deployment is execute_high with approval and role-bound."""
    tools = {
        t.name: t for t in remedy_tools(RemedyContext(ops=None, policies=None, clock=FakeClock()))
    }  # type: ignore[arg-type]
    gated = {n for n, t in tools.items() if t.policy and t.policy.requires_approval}
    assert gated == {
        "ops_pause_intervention_kind",
        "ops_rollback_policy_version",
        "ops_open_circuit_breaker",
        "ops_raise_budget",
        "ops_restart_worker",
    }
    assert all(
        t.policy and t.policy.roles == {"reliability_agent", "operator"} for t in tools.values()
    )


@pytest.fixture
def plane(db_url: str) -> Iterator[tuple[ControlPlane, OpsStore]]:
    """A control plane holding the remedy tools, on SQLite or PostgreSQL."""
    clock = FakeClock()
    ledger = Ledger.open(db_url, clock=clock)
    ops = OpsStore(ledger.engine)
    registry = ToolRegistry()
    register_remedies(registry, RemedyContext(ops=ops, policies=PolicyStore(ledger), clock=clock))
    control = ControlPlane(
        registry, ledger, clock=clock, approvers=ApproverList(approver_ids=frozenset({"anna"}))
    )
    yield control, ops
    ledger.close()


def _approved(control: ControlPlane, tool: str, args: dict[str, object]) -> StepOutcome:
    run = control.start_run("reliability_agent", "reliability-agent", "test")
    pending = control.execute(run, tool, args)
    assert pending.outcome is StepOutcome.PENDING_APPROVAL
    assert pending.gate_id
    control.decide(pending.gate_id, "approve", "anna")
    return control.resume(pending.gate_id).outcome


def test_raise_budget_applies_within_its_cap_and_refuses_above(
    plane: tuple[ControlPlane, OpsStore],
) -> None:
    """Raising to the cap works; above the cap the approved call errors and nothing changes."""
    control, ops = plane
    now = control.clock.now()
    ops.set_switch(budget_key("parts"), {"daily_usd": 100.0, "cap_usd": 300.0}, now=now)
    ok = _approved(control, RAISE_BUDGET, {"name": "parts", "daily_usd": 300.0, "reason": "x"})
    assert ok is StepOutcome.EXECUTED
    assert ops.switch(budget_key("parts"))["daily_usd"] == 300.0
    too_much = _approved(
        control, RAISE_BUDGET, {"name": "parts", "daily_usd": 301.0, "reason": "x"}
    )
    assert too_much is StepOutcome.ERROR
    assert ops.switch(budget_key("parts"))["daily_usd"] == 300.0


def test_a_role_outside_operations_cannot_call_a_remedy(
    plane: tuple[ControlPlane, OpsStore],
) -> None:
    """An area agent's run is refused the restart tool before any gate opens."""
    control, ops = plane
    run = control.start_run("area_agent", "area-agent:PA-0001", "test")
    result = control.execute(run, RESTART_WORKER, {"worker": "approvals", "reason": "x"})
    assert result.outcome is StepOutcome.REJECTED
    assert result.gate_id is None
    assert ops.switch("worker:approvals") is None


@pytest.mark.parametrize("args", [{"worker": "cron", "reason": "x"}, {"worker": "approvals"}])
def test_bad_remedy_arguments_are_refused(
    plane: tuple[ControlPlane, OpsStore], args: dict[str, object]
) -> None:
    """An unknown worker or a missing reason never reaches a gate."""
    control, _ = plane
    run = control.start_run("reliability_agent", "reliability-agent", "test")
    result = control.execute(run, RESTART_WORKER, args)
    assert result.outcome is StepOutcome.ERROR
    assert "invalid arguments" in (result.reason or "")
    assert result.gate_id is None
