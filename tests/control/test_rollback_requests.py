"""Rollback asked for by a person: a gated rollback_step call, undone only once approved."""

from __future__ import annotations

import pytest

from tailguard.control import ControlPlane, StepOutcome
from tailguard.control.rollback_requests import ROLLBACK_TOOL, request_rollback
from tailguard.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PolicyError,
)
from tailguard.ledger import Ledger
from tailguard.ledger.kpis import control_plane_kpis

from ._toolkit import Effects


def _executed_update(plane: ControlPlane) -> str:
    run = plane.start_run("recruiter", "u1", None)
    result = plane.execute(run, "update_status", {"interest_id": "i9", "new_status": "interview"})
    assert result.ok
    return result.step_id


def test_an_approved_request_rolls_the_step_back_and_counts_in_the_rollback_rate(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """The request waits at a gate; nothing is undone until another person approves; then the
    compensator runs once, the step is rolled_back and the KPIs' rollback rate counts it."""
    step_id = _executed_update(plane)
    asked = request_rollback(plane, step_id, requested_by="olga", reason="wrong candidate")
    assert asked.outcome is StepOutcome.PENDING_APPROVAL
    assert asked.gate_id is not None
    assert effects.count("revert") == 0
    with pytest.raises(PermissionDeniedError):  # the requester cannot approve their own gate
        plane.decide(asked.gate_id, "approve", "olga")
    plane.decide(asked.gate_id, "approve", "boss", reason="agreed")
    done = plane.resume(asked.gate_id)
    assert done.outcome is StepOutcome.EXECUTED
    assert effects.lines() == ["update:i9:interview", "revert:i9:applied"]
    latest = ledger.latest("step", step_id)
    assert latest is not None
    assert latest.fields["status"] == "rolled_back"
    request_step = ledger.latest("step", asked.step_id)
    assert request_step is not None
    assert request_step.fields["tool_name"] == ROLLBACK_TOOL
    assert request_step.fields["status"] == "executed"
    kpis = control_plane_kpis(ledger)
    assert kpis["overall"]["rollback_rate"] > 0
    assert kpis["per_tool"]["update_status"]["rollback_rate"] == 1.0
    with pytest.raises(ConflictError):
        request_rollback(plane, step_id, requested_by="olga")


def test_a_rejected_request_undoes_nothing(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """A rejected gate never runs the rollback: the step stays executed."""
    step_id = _executed_update(plane)
    asked = request_rollback(plane, step_id, requested_by="olga")
    assert asked.gate_id is not None
    plane.decide(asked.gate_id, "reject", "boss", reason="keep it")
    assert effects.count("revert") == 0
    latest = ledger.latest("step", step_id)
    assert latest is not None
    assert latest.fields["status"] == "executed"


def test_steps_that_cannot_be_undone_are_refused_before_any_gate(
    plane: ControlPlane, ledger: Ledger
) -> None:
    """Unknown step, a tool without a rollback strategy, a step that did not execute, and an
    empty requester are refused with their typed errors, and no run is opened."""
    runs_before = len(list(ledger.records(kind="run")))
    with pytest.raises(NotFoundError):
        request_rollback(plane, "step-nope", requested_by="olga")
    run = plane.start_run("recruiter", "u1", None)
    read = plane.execute(run, "lookup", {"zip": "75001"})
    with pytest.raises(PolicyError, match="no rollback strategy"):
        request_rollback(plane, read.step_id, requested_by="olga")
    with pytest.raises(InvalidInputError):
        request_rollback(plane, read.step_id, requested_by="")
    assert len(list(ledger.records(kind="run"))) == runs_before + 1
