"""An approval is never lost: a process killed between the approval and the call leaves a gate
that a sweep (or a restarted service) resumes exactly once, or an operator cancels."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tailguard.clock import FakeClock, SystemClock
from tailguard.control import ApproverList, ControlPlane, StepOutcome, StepResult
from tailguard.control.store import claims
from tailguard.errors import ConflictError, PermissionDeniedError, TailguardError
from tailguard.faults import CRASH_ENV
from tailguard.ledger import Ledger

from ._toolkit import Effects, make_plane, spawn_worker

SEND = {"receiverId": "d1", "content": "hello"}


def _approve_and_die(db_url: str, effects: Effects, how: str) -> str:
    """Run a worker that approves a gate and is SIGKILLed before running the call."""
    proc = spawn_worker(
        "approve", db_url, str(effects.path), how, env={CRASH_ENV: "approval_committed"}
    )
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err
    lines = out.split()
    assert lines, err
    assert lines[0].startswith("gate_"), err
    assert "resumed" not in lines
    return lines[0]


def _claims(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(claims)).scalar_one())


@pytest.mark.slow
@pytest.mark.parametrize("how", ["one", "batch"])
def test_a_kill_between_approval_and_call_is_resumed_once_by_a_sweep(
    db_url: str, tmp_path: Path, how: str
) -> None:
    """The killed process left the gate approved, unclaimed; two sweeps run the call once."""
    effects = Effects(tmp_path / "effects.log")
    gate_id = _approve_and_die(db_url, effects, how)
    clock = SystemClock()
    with Ledger.open(db_url, clock=clock) as ledger:
        plane = make_plane(
            ledger, effects, clock=clock, approvers=ApproverList(approver_ids=frozenset({"boss"}))
        )
        gate = plane.gates.get(gate_id)
        assert gate.decision == "approved"
        step = ledger.latest("step", gate.step_id)
        assert step is not None
        assert (step.fields["status"], step.fields["result_summary"]) == (
            "approved",
            "approved_awaiting_execution",
        )
        assert _claims(ledger) == 0
        assert effects.lines() == []
        assert [c.gate_id for c in plane.awaiting_execution()] == [gate_id]
        with pytest.raises(ConflictError):
            plane.decide(gate_id, "approve", "boss")  # a second approval is still refused

        # Two sweeps race (two restarted services): the call runs once.
        results: list[dict[str, StepResult | TailguardError]] = []
        sweepers = [
            threading.Thread(target=lambda: results.append(plane.resume_awaiting()))
            for _ in range(2)
        ]
        for t in sweepers:
            t.start()
        for t in sweepers:
            t.join()
        assert effects.count("send:") == 1
        ran = [r for res in results for r in res.values() if isinstance(r, StepResult)]
        assert [r.outcome for r in ran if not r.replayed] == [StepOutcome.EXECUTED]
        assert plane.awaiting_execution() == []
        assert plane.resume_awaiting() == {}
        assert effects.count("send:") == 1
        final = ledger.latest("step", gate.step_id)
        assert final is not None
        assert final.fields["status"] == "executed"
        assert ledger.verify().ok


def test_a_sweep_leaves_just_approved_gates_and_foreign_tools_alone(
    plane: ControlPlane, ledger: Ledger, effects: Effects, clock: FakeClock
) -> None:
    """Within the grace period the approver's own process resumes; a tool not held here waits."""
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    plane.decide(gate_id, "approve", "boss")
    assert plane.resume_awaiting(grace_s=30) == {}
    clock.advance(31)
    other = ControlPlane(
        type(plane.registry)(), ledger, clock=clock, approvers=plane.approvers
    )  # holds no tools
    assert other.resume_awaiting(grace_s=30) == {}
    assert [c.gate_id for c in other.awaiting_execution()] == [gate_id]
    (result,) = plane.resume_awaiting(grace_s=30).values()
    assert isinstance(result, StepResult)
    assert result.outcome is StepOutcome.EXECUTED
    assert effects.count("send:") == 1


def test_an_operator_cancels_an_approved_call_that_never_ran(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """A cancelled call never runs: a resume replays the cancellation, the sweep skips it."""
    run = plane.start_run("recruiter", "alice", None)
    result = plane.execute(run, "send_message", SEND)
    assert result.gate_id is not None
    plane.decide(result.gate_id, "approve", "boss")
    with pytest.raises(PermissionDeniedError):
        plane.cancel_approved(result.gate_id, "alice")  # started the run
    cancelled = plane.cancel_approved(result.gate_id, "deputy", reason="customer called")
    assert cancelled.outcome is StepOutcome.REJECTED
    with pytest.raises(ConflictError):
        plane.cancel_approved(result.gate_id, "deputy")
    assert plane.awaiting_execution() == []
    assert plane.resume_awaiting() == {}
    replayed = plane.resume(result.gate_id)
    assert (replayed.outcome, replayed.replayed) == (StepOutcome.REJECTED, True)
    assert effects.count("send:") == 0
    step = ledger.latest("step", result.step_id)
    assert step is not None
    assert step.fields["status"] == "rejected"
    detail = ledger.latest("gate_detail", result.gate_id)
    assert detail is not None
    assert detail.fields["cancelled_by"] == "deputy"
    assert ledger.verify().ok


def test_a_call_that_ran_cannot_be_cancelled(plane: ControlPlane) -> None:
    """Cancelling is for calls that have not run."""
    run = plane.start_run("recruiter", "alice", None)
    gate_id = plane.execute(run, "send_message", SEND).gate_id
    assert gate_id is not None
    with pytest.raises(ConflictError, match="pending"):
        plane.cancel_approved(gate_id, "boss")
    plane.decide(gate_id, "approve", "boss")
    assert plane.resume(gate_id).outcome is StepOutcome.EXECUTED
    with pytest.raises(ConflictError, match="already ran"):
        plane.cancel_approved(gate_id, "boss")
