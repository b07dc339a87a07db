"""Durable approval gates: decided once, never by the initiator, never after timeout, resumed once."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tailguard.clock import FakeClock, SystemClock
from tailguard.control import ApproverList, ControlPlane, StepOutcome
from tailguard.errors import ConflictError, InvalidInputError, PermissionDeniedError
from tailguard.ledger import Ledger

from ._toolkit import Effects, make_plane, spawn_worker

SEND = {"receiverId": "d1", "content": "hello"}


def _gate_ledger(ledger: Ledger, gate_id: str) -> list[str]:
    return [r.fields["decision"] for r in ledger.records(kind="gate") if r.record_id == gate_id]


def _run_statuses(ledger: Ledger, run_id: str) -> list[str]:
    return [r.fields["status"] for r in ledger.records(kind="run", run_id=run_id)]


def test_gated_call_waits_and_run_goes_waiting_approval(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """A gated call opens a pending gate, pauses the run, and does not run the tool."""
    run = plane.start_run("recruiter", "alice", None)
    result = plane.execute(run, "send_message", SEND)
    assert result.outcome is StepOutcome.PENDING_APPROVAL
    assert result.gate_id is not None
    assert effects.lines() == []
    assert _gate_ledger(ledger, result.gate_id) == ["pending"]
    assert _run_statuses(ledger, run.run_id) == ["running", "waiting_approval"]
    detail = ledger.latest("gate_detail", result.gate_id)
    assert detail is not None
    assert detail.fields["audit_args"] == {"receiverId": "d1"}
    assert [g.gate_id for g in plane.pending_gates(run.run_id)] == [result.gate_id]


def test_approved_call_runs_exactly_once_on_resume(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """Approval then resume runs the tool once; a second resume replays without running."""
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    decision = plane.decide(gate_id, "approve", "boss", reason="looks fine")
    assert decision.decision == "approved"
    first = plane.resume(gate_id)
    second = plane.resume(gate_id)
    assert first.ok
    assert not first.replayed
    assert second.replayed
    assert second.value == {"delivered": True}
    assert effects.count("send:") == 1
    step = ledger.latest("step", first.step_id)
    assert step is not None
    assert (step.fields["status"], step.fields["approval_gate_id"]) == ("executed", gate_id)
    assert _gate_ledger(ledger, gate_id) == ["pending", "approved"]
    assert _run_statuses(ledger, run.run_id)[-1] == "running"


def test_rejected_call_never_runs_and_step_records_reason(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """A rejection records the step as rejected with its reason; resume refuses to run it."""
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    plane.decide(gate_id, "reject", "boss", reason="tone is off")
    with pytest.raises(ConflictError):
        plane.resume(gate_id)
    assert effects.lines() == []
    steps = list(ledger.records(kind="step", run_id=run.run_id))
    assert steps[-1].fields["status"] == "rejected"
    detail = ledger.latest("step_detail", steps[-1].record_id)
    assert detail is not None
    assert "tone is off" in detail.fields["reason"]
    assert _run_statuses(ledger, run.run_id)[-1] == "running"


def test_initiator_cannot_decide_own_gate(plane: ControlPlane) -> None:
    """Separation of duties: the run's initiator may neither approve nor reject its gates."""
    run = plane.start_run("recruiter", "boss", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    with pytest.raises(PermissionDeniedError):
        plane.decide(gate_id, "approve", "boss")
    plane.decide(gate_id, "approve", "deputy")


def test_unlisted_person_and_unknown_gate_are_refused(plane: ControlPlane) -> None:
    """Only configured approvers decide, and only gates that exist."""
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    with pytest.raises(PermissionDeniedError):
        plane.decide(gate_id, "approve", "mallory")
    with pytest.raises(InvalidInputError):
        plane.decide(gate_id, "maybe", "boss")
    with pytest.raises(Exception, match="unknown approval gate"):
        plane.decide("gate_nope", "approve", "boss")


def test_decision_is_accepted_once(plane: ControlPlane) -> None:
    """A decided gate refuses any further decision."""
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    plane.decide(gate_id, "reject", "boss")
    with pytest.raises(ConflictError):
        plane.decide(gate_id, "approve", "deputy")


def test_edited_arguments_are_validated_and_used(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """Edit-and-approve validates the new arguments, records their hash, and runs with them."""
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    with pytest.raises(InvalidInputError):
        plane.decide(gate_id, "approve", "boss", edited_args={"receiverId": "d1", "content": ""})
    decision = plane.decide(
        gate_id, "approve", "boss", edited_args={"receiverId": "d1", "content": "hi, politely"}
    )
    assert decision.edited
    plane.resume(gate_id)
    assert effects.lines()[0].endswith(":d1:hi, politely")
    detail = ledger.latest("gate_detail", gate_id)
    assert detail is not None
    assert detail.fields["edited"] is True


def test_timed_out_gate_refuses_approval_and_never_runs(
    plane: ControlPlane, ledger: Ledger, clock: FakeClock, effects: Effects
) -> None:
    """Approving after the timeout is refused; the gate becomes timeout and the step skipped."""
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    clock.advance(601)
    with pytest.raises(ConflictError, match="timed out"):
        plane.decide(gate_id, "approve", "boss")
    with pytest.raises(ConflictError):
        plane.resume(gate_id)
    assert effects.lines() == []
    assert _gate_ledger(ledger, gate_id) == ["pending", "timeout"]
    step = ledger.latest("step", plane.gates.get(gate_id).step_id)
    assert step is not None
    assert (step.fields["status"], step.fields["result_summary"]) == ("skipped", "gate_timeout")


def test_expire_gates_sweeps_only_overdue_gates(plane: ControlPlane, clock: FakeClock) -> None:
    """The sweeper times out overdue gates and leaves fresh ones pending."""
    run = plane.start_run("recruiter", "alice", None)
    old = plane.execute(run, "send_message", SEND).gate_id
    clock.advance(300)
    fresh = plane.execute(run, "send_message", SEND).gate_id
    clock.advance(301)
    assert plane.expire_gates() == [old]
    assert [g.gate_id for g in plane.pending_gates()] == [fresh]
    assert plane.expire_gates() == []


def test_two_racing_approvals_exactly_one_wins(plane: ControlPlane, ledger: Ledger) -> None:
    """Two approvers deciding the same gate at once: one succeeds, the other gets a conflict."""
    run = plane.start_run("recruiter", "alice", None)
    gate_ids = [plane.execute(run, "send_message", SEND).gate_id for _ in range(5)]
    for gate_id in gate_ids:
        assert gate_id is not None
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def decide(
            who: str,
            decision: str,
            gate: str = gate_id,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                plane.decide(gate, decision, who)
                outcomes.append("won")
            except ConflictError:
                outcomes.append("conflict")

        threads = [
            threading.Thread(target=decide, args=("boss", "approve")),
            threading.Thread(target=decide, args=("deputy", "reject")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["conflict", "won"]
        assert len(_gate_ledger(ledger, gate_id)) == 2


def test_racing_resumes_run_the_handler_once(plane: ControlPlane, effects: Effects) -> None:
    """Four threads resuming the same approved gate cause one side effect."""
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    plane.decide(gate_id, "approve", "boss")
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def resume() -> None:
        barrier.wait()
        try:
            results.append(plane.resume(gate_id))
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=resume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert effects.count("send:") == 1
    assert sum(1 for r in results if not isinstance(r, Exception) and not r.replayed) == 1


@pytest.mark.slow
def test_gate_survives_a_killed_process_and_resumes_once_elsewhere(
    db_url: str, tmp_path: Path
) -> None:
    """Kill the requesting process with a gate pending; another process approves and resumes it once."""
    effects = Effects(tmp_path / "effects.log")
    proc = spawn_worker("gate", db_url, str(effects.path))
    try:
        assert proc.stdout is not None
        gate_id = proc.stdout.readline().strip()
        assert gate_id.startswith("gate_"), proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    clock = SystemClock()
    with Ledger.open(db_url, clock=clock) as ledger:
        plane = make_plane(
            ledger, effects, clock=clock, approvers=ApproverList(approver_ids=frozenset({"boss"}))
        )
        pending = plane.gates.get(gate_id)
        assert pending.decision == "pending"
        assert pending.args == {"receiverId": "d7", "content": "job offer"}
        assert effects.lines() == []
        plane.decide(gate_id, "approve", "boss")
        assert plane.resume(gate_id).ok
        assert plane.resume(gate_id).replayed
        assert effects.count("send:") == 1
        run = plane.get_run(pending.run_id)
        assert run.initiator_id == "alice"
        outcome = plane.finish_run(run, "completed")
        assert outcome.outcome_deltas["productive_steps"] == 1
        assert ledger.verify().ok


def test_timeout_then_late_clock_never_reopens(ledger: Ledger, effects: Effects) -> None:
    """A gate without an approver list cannot be decided at all (fail closed)."""
    clock = FakeClock()
    closed = make_plane(ledger, effects, clock=clock, approvers=None)
    approving = make_plane(
        ledger, effects, clock=clock, approvers=ApproverList(approver_ids=frozenset({"boss"}))
    )
    run = approving.start_run("recruiter", "alice", None)
    gate_id = approving.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    with pytest.raises(PermissionDeniedError):
        closed.decide(gate_id, "approve", "boss")
    clock.advance(timedelta(hours=1))
    assert approving.expire_gates() == [gate_id]


def test_separation_of_duties_compares_names_without_case(
    ledger: Ledger, effects: Effects, clock: FakeClock
) -> None:
    """``Alice`` cannot approve the gate of a run ``alice`` started."""
    plane = make_plane(
        ledger,
        effects,
        clock=clock,
        approvers=ApproverList(approver_ids=frozenset({"ALICE", "ａｌｉｃｅ"})),
    )
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", {"receiverId": "d1", "content": "x"}).gate_id
    assert gate_id is not None
    with pytest.raises(PermissionDeniedError):
        plane.decide(gate_id, "approve", "ALICE")
    with pytest.raises(PermissionDeniedError):
        plane.decide(gate_id, "approve", "ａｌｉｃｅ")
