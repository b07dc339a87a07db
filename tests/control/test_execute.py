"""Governed execution: one path, every outcome recorded with the section-5 fields."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tailguard.clock import FakeClock
from tailguard.control import ControlPlane, RunBudget, StepOutcome, Usage, args_hash
from tailguard.errors import BudgetExceededError, ConflictError
from tailguard.ledger import KIND_SPECS, Ledger

from ._toolkit import RATE_LIMIT, Effects, make_plane


def _records(ledger: Ledger, kind: str, run_id: str | None = None) -> list[dict[str, Any]]:
    return [dict(r.fields) for r in ledger.records(kind=kind, run_id=run_id)]


def test_read_call_executes_and_records_step_with_audit_fields(
    plane: ControlPlane, ledger: Ledger
) -> None:
    """A read call runs its handler and leaves a step record plus audit fields in clear."""
    run = plane.start_run("driver", "u1", "find carriers", conversation_id="c1")
    result = plane.execute(run, "lookup", {"zip": "75001"})
    assert result.outcome is StepOutcome.EXECUTED
    assert result.value == {"zip": "75001", "matches": [1, 2, 3]}
    step = _records(ledger, "step", run.run_id)[-1]
    assert set(step) == set(KIND_SPECS["step"].fields)
    assert step["status"] == "executed"
    assert step["args_hash"] == args_hash({"zip": "75001"})
    assert step["risk_level"] == "read"
    assert step["result_summary"] == "object (matches, zip)"
    detail = ledger.latest("step_detail", result.step_id)
    assert detail is not None
    assert detail.fields["audit_args"] == {"zip": "75001"}
    first_run = _records(ledger, "run", run.run_id)[0]
    assert first_run["status"] == "running"
    assert first_run["conversation_id"] == "c1"


def test_unknown_tool_is_stopped_and_recorded_as_error(plane: ControlPlane, ledger: Ledger) -> None:
    """An unknown tool never runs; the step is recorded as an error, riskiest level."""
    run = plane.start_run("driver", "u1", None)
    result = plane.execute(run, "no_such_tool", {"x": 1})
    assert result.outcome is StepOutcome.ERROR
    assert result.reason is not None
    assert result.reason.startswith("unknown_tool")
    step = _records(ledger, "step", run.run_id)[-1]
    assert (step["status"], step["risk_level"], step["result_summary"]) == (
        "error",
        "execute_high",
        "error",
    )


def test_invalid_arguments_stop_the_call_before_the_handler(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """Arguments that break the schema are refused and the side effect never happens."""
    run = plane.start_run("recruiter", "u1", None)
    result = plane.execute(run, "update_status", {"interest_id": "i1"})
    assert result.outcome is StepOutcome.ERROR
    assert "new_status" in (result.reason or "")
    assert effects.lines() == []
    assert _records(ledger, "step", run.run_id)[-1]["status"] == "error"


def test_role_outside_policy_is_rejected(plane: ControlPlane) -> None:
    """A tool restricted to some roles refuses the others."""
    run = plane.start_run("driver", "u1", None)
    assert plane.execute(run, "think", {"tokens": 1, "cost": 0.0}).outcome is StepOutcome.REJECTED


def test_gated_tool_is_denied_when_no_approver_is_configured(
    ledger: Ledger, effects: Effects, clock: FakeClock
) -> None:
    """Fail closed: with no approver configured a gated call is rejected and never runs."""
    bare = make_plane(ledger, effects, clock=clock, approvers=None)
    run = bare.start_run("recruiter", "u1", None)
    result = bare.execute(run, "send_message", {"receiverId": "d1", "content": "hi"})
    assert result.outcome is StepOutcome.REJECTED
    assert result.reason is not None
    assert result.reason.startswith("no_approver")
    assert effects.lines() == []
    assert _records(ledger, "step", run.run_id)[-1]["status"] == "rejected"


def test_rate_limit_allows_exactly_the_limit_per_window(
    plane: ControlPlane, clock: FakeClock
) -> None:
    """Per user and tool, exactly the limit passes in a minute; the window slides."""
    run = plane.start_run("driver", "u1", None)
    outcomes = [plane.execute(run, "limited", {}).outcome for _ in range(RATE_LIMIT + 3)]
    assert outcomes.count(StepOutcome.EXECUTED) == RATE_LIMIT
    assert outcomes[-1] is StepOutcome.RATE_LIMITED
    other = plane.execute(run, "limited", {}, requester_id="u2")
    assert other.outcome is StepOutcome.EXECUTED
    clock.advance(59)
    assert plane.execute(run, "limited", {}).outcome is StepOutcome.RATE_LIMITED
    clock.advance(2)
    assert plane.execute(run, "limited", {}).outcome is StepOutcome.EXECUTED


def test_token_cap_stops_steps_once_used_up(plane: ControlPlane, ledger: Ledger) -> None:
    """A run's token cap refuses a reservation that would pass it and records the skip."""
    run = plane.start_run("recruiter", "u1", None, budget=RunBudget(max_tokens=100))
    first = plane.execute(
        run, "think", {"tokens": 60, "cost": 0.0}, estimate=Usage(input_tokens=60)
    )
    assert first.outcome is StepOutcome.EXECUTED
    second = plane.execute(
        run, "think", {"tokens": 60, "cost": 0.0}, estimate=Usage(input_tokens=60)
    )
    assert second.outcome is StepOutcome.BUDGET_EXCEEDED
    step = _records(ledger, "step", run.run_id)[-1]
    assert (step["status"], step["result_summary"]) == ("skipped", "budget_exceeded")
    assert plane.budgets.totals(run.run_id).total_tokens == 60


def test_wall_time_cap_stops_a_slow_run(plane: ControlPlane, clock: FakeClock) -> None:
    """After the run's wall-time cap no step runs."""
    run = plane.start_run("driver", "u1", None, budget=RunBudget(max_seconds=30))
    assert plane.execute(run, "lookup", {"zip": "75001"}).ok
    clock.advance(31)
    assert plane.execute(run, "lookup", {"zip": "75001"}).outcome is StepOutcome.BUDGET_EXCEEDED


def test_daily_run_cap_refuses_the_next_run(
    ledger: Ledger, effects: Effects, clock: FakeClock
) -> None:
    """A user past the daily run cap cannot start another run until the next UTC day."""
    capped = make_plane(ledger, effects, clock=clock, daily_run_cap=2)
    capped.start_run("driver", "u1", None)
    capped.start_run("driver", "u1", None)
    with pytest.raises(BudgetExceededError):
        capped.start_run("driver", "u1", None)
    capped.start_run("driver", "u2", None)
    clock.advance(timedelta(days=1))
    capped.start_run("driver", "u1", None)


def test_cost_alert_is_recorded_once_when_threshold_passes(
    plane: ControlPlane, ledger: Ledger
) -> None:
    """Passing the alert threshold writes exactly one alert record for the run."""
    run = plane.start_run("recruiter", "u1", None, budget=RunBudget(alert_cost_usd=0.5))
    plane.execute(run, "think", {"tokens": 10, "cost": 0.3})
    assert _records(ledger, "alert") == []
    plane.execute(run, "think", {"tokens": 10, "cost": 0.3})
    plane.execute(run, "think", {"tokens": 10, "cost": 0.3})
    alerts = _records(ledger, "alert")
    assert len(alerts) == 1
    assert alerts[0]["run_id"] == run.run_id
    assert alerts[0]["value"] == pytest.approx(0.6)


def test_model_call_reserves_then_reconciles(plane: ControlPlane) -> None:
    """A model call holds its estimate while running and is charged its actual usage."""
    run = plane.start_run(
        "recruiter", "u1", None, budget=RunBudget(max_tokens=1000, max_cost_usd=1.0)
    )
    with plane.model_call(run, Usage(input_tokens=800, cost_usd=0.5)) as slot:
        with pytest.raises(BudgetExceededError):
            plane.reserve(run, Usage(input_tokens=300))
        slot.record(Usage(input_tokens=200, output_tokens=100, cost_usd=0.1))
    totals = plane.budgets.totals(run.run_id)
    assert (totals.input_tokens, totals.output_tokens) == (200, 100)
    assert totals.cost_usd == pytest.approx(0.1)
    plane.reserve(run, Usage(input_tokens=700))


def test_idempotent_tool_is_retried_and_retries_recorded(
    plane: ControlPlane, ledger: Ledger
) -> None:
    """An idempotent tool that fails once is retried; the step records one retry."""
    run = plane.start_run("driver", "u1", None)
    result = plane.execute(run, "flaky", {})
    assert result.ok
    assert result.retries == 1
    assert _records(ledger, "step", run.run_id)[-1]["retries"] == 1


def test_failing_non_idempotent_tool_runs_once_and_records_error(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """A non-idempotent tool is never retried; its failure is an error step with the reason."""
    run = plane.start_run("driver", "u1", None)
    result = plane.execute(run, "broken", {})
    assert result.outcome is StepOutcome.ERROR
    assert "downstream said no" in (result.reason or "")
    assert effects.count("broken") == 1
    detail = ledger.latest("step_detail", result.step_id)
    assert detail is not None
    assert "downstream said no" in detail.fields["reason"]


def test_control_store_failure_stops_the_step_before_the_handler(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """Fail closed: when the rate-limit store cannot be written, the handler never runs."""
    run = plane.start_run("driver", "u1", None)
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE tailguard_control_rate_hits"))
    result = plane.execute(run, "limited", {})
    assert result.outcome is StepOutcome.ERROR
    assert (result.reason or "").startswith("ledger_error")
    assert _records(ledger, "step", run.run_id)[-1]["status"] == "error"


def test_finish_run_writes_final_run_and_outcome(plane: ControlPlane, ledger: Ledger) -> None:
    """Finishing writes the completed run with totals and the heuristic outcome."""
    run = plane.start_run("recruiter", "u1", "update pipeline")
    plane.execute(run, "lookup", {"zip": "75001"})
    plane.execute(run, "think", {"tokens": 40, "cost": 0.01})
    plane.execute(run, "broken", {})
    outcome = plane.finish_run(run, "completed", follow_up=True)
    # 50 - 15 (one error) + 20 (follow-up) + 20 (two productive steps)
    assert outcome.quality_score == 75
    assert outcome.objective_met == "yes"
    final = _records(ledger, "run", run.run_id)[-1]
    assert final["status"] == "completed"
    assert final["steps_count"] == 3
    assert final["total_tokens"] == 40
    assert final["completed_at"] is not None
    recorded = _records(ledger, "outcome", run.run_id)
    assert len(recorded) == 1
    assert set(recorded[0]) == set(KIND_SPECS["outcome"].fields)
    assert any("broken" in task for task in recorded[0]["follow_up_tasks"])
    with pytest.raises(ConflictError):
        plane.finish_run(run, "completed")
    assert plane.execute(run, "lookup", {"zip": "75001"}).outcome is StepOutcome.REJECTED


def test_rollback_runs_the_compensating_tool_once(
    plane: ControlPlane, ledger: Ledger, effects: Effects
) -> None:
    """Rolling back a reversible step calls its compensator and records status rolled_back."""
    run = plane.start_run("recruiter", "u1", None)
    result = plane.execute(run, "update_status", {"interest_id": "i9", "new_status": "interview"})
    assert result.ok
    undo = plane.rollback(result.step_id, requested_by="boss", reason="wrong candidate")
    assert undo.ok
    assert effects.lines() == ["update:i9:interview", "revert:i9:applied"]
    latest = ledger.latest("step", result.step_id)
    assert latest is not None
    assert latest.fields["status"] == "rolled_back"
    with pytest.raises(ConflictError):
        plane.rollback(result.step_id, requested_by="boss")
    assert effects.count("revert") == 1


def test_side_effecting_tool_writes_intent_before_running(
    plane: ControlPlane, ledger: Ledger
) -> None:
    """An execute_low step has write-ahead evidence (an intent) before its final record."""
    run = plane.start_run("recruiter", "u1", None)
    result = plane.execute(run, "update_status", {"interest_id": "i1", "new_status": "hired"})
    phases = [r.fields["phase"] for r in ledger.records(kind="step_detail", run_id=run.run_id)]
    assert phases == ["intent", "final"]
    assert result.ok
