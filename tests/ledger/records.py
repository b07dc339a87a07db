"""Builders of valid section-5 records for tests (plain functions, no fixtures)."""

from __future__ import annotations

from typing import Any


def run(run_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid run record's fields."""
    fields: dict[str, Any] = {
        "run_id": run_id,
        "conversation_id": f"conv-{run_id}",
        "initiator_id": "user-1",
        "role": "area_ceo",
        "goal_text": "prune the lateness tail",
        "status": "running",
        "total_tokens": 0,
        "total_cost_usd": 0.0,
        "steps_count": 0,
        "started_at": "2026-01-05T00:00:00Z",
        "completed_at": None,
        "sla_ms": 60000,
    }
    fields.update(overrides)
    return fields


def step(step_id: str, run_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid step record's fields."""
    fields: dict[str, Any] = {
        "step_id": step_id,
        "run_id": run_id,
        "tool_name": "get_pulse",
        "risk_level": "read",
        "args_hash": "ab" * 32,
        "result_summary": "ok",
        "latency_ms": 12.5,
        "retries": 0,
        "status": "executed",
        "approval_gate_id": None,
    }
    fields.update(overrides)
    return fields


def gate(gate_id: str, run_id: str, step_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid gate record's fields."""
    fields: dict[str, Any] = {
        "gate_id": gate_id,
        "run_id": run_id,
        "step_id": step_id,
        "tool_name": "pay_surge_bonus",
        "reason": "execute_high tool",
        "risk_level": "execute_high",
        "presented_at": "2026-01-05T00:00:01Z",
        "decision": "pending",
        "decided_by": None,
        "decided_at": None,
    }
    fields.update(overrides)
    return fields


def outcome(outcome_id: str, run_id: str, **overrides: Any) -> dict[str, Any]:
    """A valid outcome record's fields."""
    fields: dict[str, Any] = {
        "outcome_id": outcome_id,
        "run_id": run_id,
        "objective_met": "yes",
        "quality_score": 80,
        "user_feedback": None,
        "follow_up_tasks": [],
        "outcome_deltas": {},
        "evaluated_at": "2026-01-05T00:05:00Z",
    }
    fields.update(overrides)
    return fields
