"""The chain of evidence is complete at every moment: no record names an id not yet recorded."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from tailguard.clock import FakeClock
from tailguard.control import ControlPlane, RunRequest, StepOutcome
from tailguard.ledger import Ledger, LedgerRecord

SEND = {"receiverId": "d1", "content": "hello"}


def dangling(records: Iterable[LedgerRecord]) -> list[str]:
    """Every reference (run, step or gate id) to an entity with no earlier record, in order."""
    seen: dict[str, set[str]] = {"run": set(), "step": set(), "gate": set()}
    problems: list[str] = []

    def need(kind: str, value: Any, record: LedgerRecord, field: str) -> None:
        if value is not None and value not in seen[kind]:
            problems.append(f"seq {record.seq} ({record.kind}).{field} -> {value}")

    for record in records:
        fields: Mapping[str, Any] = record.fields
        if record.kind != "run":
            need("run", fields.get("run_id"), record, "run_id")
        if record.kind == "gate":
            need("step", fields.get("step_id"), record, "step_id")
        if record.kind == "step":
            need("gate", fields.get("approval_gate_id"), record, "approval_gate_id")
        if record.kind in ("gate_detail",):
            need("gate", record.record_id, record, "gate_detail_id")
        if record.kind in seen:
            seen[record.kind].add(record.record_id)
    return problems


def _assert_complete(ledger: Ledger) -> None:
    assert dangling(ledger.records()) == []
    # Every pending gate's step is already in the ledger, waiting for the decision.
    latest_steps = {r.record_id: r.fields for r in ledger.records(kind="step")}
    latest_gates = {r.record_id: r.fields for r in ledger.records(kind="gate")}
    for gate in latest_gates.values():
        if gate["decision"] == "pending":
            assert latest_steps[gate["step_id"]]["status"] == "pending_approval"


def test_a_presented_gate_finds_its_step_in_the_ledger_one_call_at_a_time(
    plane: ControlPlane, ledger: Ledger, clock: FakeClock
) -> None:
    """``execute``: the step is recorded pending_approval with its gate, then its final state."""
    run = plane.start_run("recruiter", "alice", "goal")
    plane.execute(run, "lookup", {"zip": "10115"})
    approved = plane.execute(run, "send_message", SEND)
    rejected = plane.execute(run, "send_message", {**SEND, "receiverId": "d2"})
    expired = plane.execute(run, "send_message", {**SEND, "receiverId": "d3"})
    assert approved.outcome is StepOutcome.PENDING_APPROVAL
    _assert_complete(ledger)
    assert approved.gate_id is not None
    assert rejected.gate_id is not None
    assert expired.gate_id is not None
    plane.decide(approved.gate_id, "approve", "boss")
    _assert_complete(ledger)
    plane.decide(rejected.gate_id, "reject", "boss")
    _assert_complete(ledger)
    assert plane.resume(approved.gate_id).outcome is StepOutcome.EXECUTED
    clock.advance(601)
    plane.expire_gates()
    plane.finish_run(run)
    _assert_complete(ledger)
    statuses = [
        r.fields["status"] for r in ledger.records(kind="step") if r.record_id == approved.step_id
    ]
    assert statuses == ["pending_approval", "approved", "executed"]
    assert ledger.verify().ok


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_presented_gate_finds_its_step_in_the_ledger_in_a_batch(
    plane: ControlPlane, ledger: Ledger, decision: str
) -> None:
    """``execute_batch``: the same evidence order as one call at a time, for every run."""
    calls: list[tuple[str, Mapping[str, Any]]] = [
        ("lookup", {"zip": "10115"}),
        ("send_message", SEND),
        ("update_status", {"interest_id": "i1", "new_status": "hired"}),
    ]
    done = plane.execute_batch(
        [
            RunRequest(role="recruiter", initiator_id=f"u{i}", goal_text=None, calls=calls)
            for i in range(3)
        ]
    )
    _assert_complete(ledger)
    gate_ids = [r.gate_id for d in done for r in d.results if r.gate_id]
    assert len(gate_ids) == 3
    for gate_id in gate_ids:
        plane.decide(gate_id, decision, "boss")
    _assert_complete(ledger)
    if decision == "approve":
        results = plane.resume_batch(gate_ids)
        assert all(r.outcome is StepOutcome.EXECUTED for r in results.values())  # type: ignore[union-attr]
    _assert_complete(ledger)
    assert ledger.verify().ok
