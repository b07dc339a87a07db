"""Control-plane KPIs from a hand-built ledger with known answers, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tailguard.clock import FakeClock, format_ts
from tailguard.ledger import Ledger
from tailguard.ledger.kpis import control_plane_kpis

from .records import gate, outcome, run, step

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _at(clock: FakeClock, seconds: float) -> str:
    clock.set(T0 + timedelta(seconds=seconds))
    return format_ts(clock.now())


def build(ledger: Ledger, clock: FakeClock) -> None:
    """Four runs: two area_ceo, two recruiter, with one rollback, a rejection and two bypasses."""
    # r1 (area_ceo): a read at +2 s, then an approved high-risk payment; completed.
    started = _at(clock, 0)
    ledger.append("run", run("r1", role="area_ceo", started_at=started))
    _at(clock, 2)
    ledger.append("step", step("s1", "r1", tool_name="get_pulse"))
    _at(clock, 5)
    g1 = gate("g1", "r1", "s2", tool_name="pay_surge_bonus", presented_at=clock.now())
    ledger.append("gate", g1)
    ledger.append(
        "gate", {**g1, "decision": "approved", "decided_by": "ops-2", "decided_at": _at(clock, 8)}
    )
    s2 = step(
        "s2", "r1", tool_name="pay_surge_bonus", risk_level="execute_high", approval_gate_id="g1"
    )
    ledger.append("step", {**s2, "status": "approved"})
    _at(clock, 10)
    ledger.append("step", s2)
    done = {"status": "completed", "total_tokens": 1000, "total_cost_usd": 0.10, "steps_count": 2}
    ledger.append(
        "run", run("r1", role="area_ceo", started_at=started, completed_at=_at(clock, 12), **done)
    )
    ledger.append("outcome", outcome("o1", "r1", objective_met="yes"))

    # r2 (area_ceo): a window change at +4 s later rolled back; a rejected payment; failed.
    started = _at(clock, 60)
    ledger.append("run", run("r2", role="area_ceo", started_at=started))
    _at(clock, 64)
    s3 = step("s3", "r2", tool_name="adjust_window", risk_level="execute_low")
    ledger.append("step", s3)
    g2 = gate("g2", "r2", "s4", tool_name="pay_surge_bonus", presented_at=_at(clock, 65))
    ledger.append("gate", g2)
    ledger.append(
        "gate", {**g2, "decision": "rejected", "decided_by": "ops-2", "decided_at": _at(clock, 66)}
    )
    ledger.append(
        "step",
        step(
            "s4",
            "r2",
            tool_name="pay_surge_bonus",
            risk_level="execute_high",
            status="rejected",
            approval_gate_id="g2",
        ),
    )
    ledger.append("step", {**s3, "status": "rolled_back"})
    failed = {"status": "failed", "total_tokens": 500, "total_cost_usd": 0.05, "steps_count": 2}
    ledger.append(
        "run", run("r2", role="area_ceo", started_at=started, completed_at=_at(clock, 70), **failed)
    )
    ledger.append("outcome", outcome("o2", "r2", objective_met="no", quality_score=10))

    # r3 (recruiter): a high-risk message with no gate at all (bypass), and one sent after its
    # gate timed out (bypass); completed.
    started = _at(clock, 120)
    ledger.append("run", run("r3", role="recruiter", started_at=started))
    _at(clock, 126)
    ledger.append("step", step("s5", "r3", tool_name="send_message", risk_level="execute_high"))
    g3 = gate("g3", "r3", "s6", tool_name="send_message", presented_at=_at(clock, 127))
    ledger.append("gate", g3)
    ledger.append("gate", {**g3, "decision": "timeout", "decided_at": _at(clock, 200)})
    ledger.append(
        "step",
        step("s6", "r3", tool_name="send_message", risk_level="execute_low", approval_gate_id="g3"),
    )
    ok = {"status": "completed", "total_tokens": 300, "total_cost_usd": 0.30, "steps_count": 2}
    ledger.append(
        "run", run("r3", role="recruiter", started_at=started, completed_at=_at(clock, 210), **ok)
    )
    ledger.append("outcome", outcome("o3", "r3", objective_met="partial", quality_score=40))

    # r4 (recruiter): still running, nothing done yet.
    ledger.append("run", run("r4", role="recruiter", started_at=_at(clock, 240)))


@pytest.fixture
def kpi_ledger(ledger_url: str) -> Iterator[Ledger]:
    """The hand-built ledger, on each backend."""
    clock = FakeClock(T0)
    with Ledger.open(ledger_url, clock=clock) as ledger:
        build(ledger, clock)
        yield ledger


def test_overall_kpis_match_the_hand_computed_answers(kpi_ledger: Ledger) -> None:
    """Every overall KPI equals its value worked out by hand from the four runs."""
    overall = control_plane_kpis(kpi_ledger)["overall"]
    assert overall["runs"] == 4
    assert overall["runs_finished"] == 3
    assert overall["time_to_first_action_ms"] == {"count": 3, "median": 4000.0, "p90": 6000.0}
    assert overall["workflow_success_rate"] == pytest.approx(2 / 3)
    assert overall["objective_met_rate"] == pytest.approx(1 / 3)
    assert overall["steps_ran"] == 5
    assert overall["rollback_rate"] == pytest.approx(1 / 5)
    assert (overall["gates"], overall["gates_decided"]) == (3, 3)
    assert overall["human_override_rate"] == pytest.approx(1 / 3)
    assert overall["cost_per_run_usd"] == pytest.approx(0.45 / 4)
    assert overall["total_tokens"] == 1800
    assert overall["productive_steps"] == 4
    assert overall["tokens_per_productive_step"] == pytest.approx(450.0)


def test_a_deliberate_bypass_is_counted_and_alerted(kpi_ledger: Ledger) -> None:
    """A high-risk step with no gate and one run after a timed-out gate are both bypasses."""
    result = control_plane_kpis(kpi_ledger)
    overall = result["overall"]
    assert overall["approval_bypass_count"] == 2
    assert overall["bypasses"] == {"none": 1, "pending": 0, "rejected": 0, "timeout": 1}
    assert [a["kpi"] for a in result["alerts"]] == ["approval_bypass_count"]


def test_kpis_per_role(kpi_ledger: Ledger) -> None:
    """Each role's figures come only from its own runs and their steps and gates."""
    per_role = control_plane_kpis(kpi_ledger)["per_role"]
    assert set(per_role) == {"area_ceo", "recruiter"}
    ceo, rec = per_role["area_ceo"], per_role["recruiter"]
    assert ceo["time_to_first_action_ms"] == {"count": 2, "median": 3000.0, "p90": 4000.0}
    assert (ceo["workflow_success_rate"], ceo["rollback_rate"]) == (0.5, pytest.approx(1 / 3))
    assert (ceo["human_override_rate"], ceo["approval_bypass_count"]) == (0.5, 0)
    assert ceo["cost_per_run_usd"] == pytest.approx(0.075)
    assert ceo["tokens_per_productive_step"] == pytest.approx(750.0)
    assert (rec["workflow_success_rate"], rec["approval_bypass_count"]) == (1.0, 2)
    assert (rec["human_override_rate"], rec["tokens_per_productive_step"]) == (0.0, 150.0)


def test_kpis_per_tool(kpi_ledger: Ledger) -> None:
    """Tool figures cover the steps and gates of that tool; run-level figures are absent."""
    per_tool = control_plane_kpis(kpi_ledger)["per_tool"]
    assert set(per_tool) == {"get_pulse", "pay_surge_bonus", "adjust_window", "send_message"}
    pay, send = per_tool["pay_surge_bonus"], per_tool["send_message"]
    assert (pay["steps_ran"], pay["gates_decided"], pay["human_override_rate"]) == (1, 2, 0.5)
    assert pay["approval_bypass_count"] == 0
    assert (send["steps_ran"], send["approval_bypass_count"]) == (2, 2)
    assert per_tool["adjust_window"]["rollback_rate"] == 1.0
    assert "cost_per_run_usd" not in pay


def test_a_time_window_keeps_only_runs_started_in_it(kpi_ledger: Ledger) -> None:
    """since/until select runs by started_at, half-open, with their steps, gates and current state."""
    result = control_plane_kpis(
        kpi_ledger, since=T0 + timedelta(seconds=60), until=T0 + timedelta(seconds=180)
    )
    overall = result["overall"]
    assert (result["since"], result["until"]) == ("2026-01-05T00:01:00Z", "2026-01-05T00:03:00Z")
    assert (overall["runs"], overall["workflow_success_rate"]) == (2, 0.5)
    assert overall["time_to_first_action_ms"]["median"] == 5000.0
    assert overall["approval_bypass_count"] == 2


def test_an_empty_ledger_gives_null_kpis(ledger: Ledger) -> None:
    """No data means null, never 0, and no alert."""
    result: dict[str, Any] = control_plane_kpis(ledger)
    overall = result["overall"]
    assert overall["runs"] == 0
    assert overall["workflow_success_rate"] is None
    assert overall["time_to_first_action_ms"] == {"count": 0, "median": None, "p90": None}
    assert overall["tokens_per_productive_step"] is None
    assert (result["per_role"], result["per_tool"], result["alerts"]) == ({}, {}, [])
