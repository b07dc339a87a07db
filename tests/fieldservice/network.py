"""A small operations deployment on a real database: a governed surge-window run for PA-0004
yesterday (gated, approved by ops-lead, executed), its decision in the self-learn store with the
measured outcome, a second intervention in PA-0007 not measured yet, a call still waiting for
approval, an OKR, and a pulse with the areas' KPIs yesterday and now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import polars as pl

from tailguard.clock import Clock, FakeClock
from tailguard.control import ApproverList, ControlPlane, Policy, RiskLevel, Tool, ToolRegistry
from tailguard.learning.store import Decision, SelfLearnStore, StatusUpdate
from tailguard.ledger import Ledger
from tailguard.pulse import PulseStore

SURGE_TOOL = "open_surge_pay_window"
AGENTS = "area-agents"
LEAD = "ops-lead"


@dataclass(frozen=True, kw_only=True, slots=True)
class Network:
    """What the tests look for."""

    now: datetime
    yesterday: datetime
    surge_run_id: str
    surge_gate_id: str
    waiting_gate_id: str


def _surge_registry() -> ToolRegistry:
    registry = ToolRegistry()
    registry.register(
        Tool(
            name=SURGE_TOOL,
            description="Open a surge pay window in a zip.",
            parameters={
                "type": "object",
                "properties": {"area_id": {"type": "string"}, "zip": {"type": "string"}},
                "required": ["area_id", "zip"],
                "additionalProperties": False,
            },
            handler=lambda args, ctx: {"summary": f"window opened in {args['zip']}"},
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH,
                requires_approval=True,
                audit_fields=("area_id", "zip"),
            ),
        )
    )
    return registry


def build(url: str, pulse_url: str, now: datetime) -> Network:
    """Write the deployment at ``url`` (ledger database) and ``pulse_url``, as of ``now``."""
    yesterday = datetime.combine(now.date() - timedelta(days=1), time(14), tzinfo=UTC)
    clock = FakeClock(yesterday)
    ledger = Ledger.open(url, clock=clock)
    try:
        return _build(ledger, clock, pulse_url, now, yesterday)
    finally:
        ledger.close()


def _build(
    ledger: Ledger, clock: FakeClock, pulse_url: str, now: datetime, yesterday: datetime
) -> Network:
    control = ControlPlane(
        _surge_registry(),
        ledger,
        clock=clock,
        approvers=ApproverList(approver_ids=frozenset({LEAD})),
    )
    run = control.start_run("agent", AGENTS, "demand surge in PA-0004 zip 19104: 3.4x bookings")
    gated = control.execute(run, SURGE_TOOL, {"area_id": "PA-0004", "zip": "19104"})
    assert gated.gate_id is not None
    clock.advance(timedelta(minutes=10))
    control.decide(gated.gate_id, "approve", LEAD)
    done = control.resume(gated.gate_id)
    assert done.outcome == "executed", done
    control.finish_run(run)

    clock.set(now - timedelta(minutes=10))  # a call of this morning, still within its timeout
    waiting_run = control.start_run("agent", AGENTS, "demand surge in PA-0007 zip 19120")
    waiting = control.execute(waiting_run, SURGE_TOOL, {"area_id": "PA-0007", "zip": "19120"})
    assert waiting.gate_id is not None

    learn = SelfLearnStore(ledger.engine)
    common: dict[str, Any] = {
        "entry_id": "demand_surge_pay_window",
        "kind": "surge_pay_window",
        "tool_name": SURGE_TOOL,
        "trigger": "demand_surge",
        "target_type": "zip",
        "propensity": 0.8,
        "policy_version": "catalogue",
        "outcome_kpi": "ftf_rate",
    }
    learn.record_decisions(
        [
            Decision(
                decision_id="d-4",
                area_id="PA-0004",
                target_id="19104",
                args={"zip": "19104"},
                decided_at=yesterday,
                baseline_value=0.70,
                horizon_at=yesterday + timedelta(hours=12),
                **common,
            ),
            Decision(
                decision_id="d-7",
                area_id="PA-0007",
                target_id="19120",
                args={"zip": "19120"},
                decided_at=yesterday + timedelta(hours=1),
                baseline_value=0.64,
                horizon_at=now + timedelta(days=1),
                **common,
            ),
        ]
    )
    learn.update_status(
        [
            StatusUpdate(
                decision_id="d-4",
                status="executed",
                reason="bookings 3.4x the usual rate",
                run_id=run.run_id,
                step_id=done.step_id,
                gate_id=gated.gate_id,
                cost_usd=120.0,
                executed_at=yesterday + timedelta(minutes=10),
            ),
            StatusUpdate(
                decision_id="d-7",
                status="pending_approval",
                run_id=waiting_run.run_id,
                gate_id=waiting.gate_id,
            ),
        ]
    )
    learn.record_outcomes([("d-4", 0.76)], measured_at=yesterday + timedelta(hours=12))
    ledger.append(
        "okr",
        {
            "okr_id": "okr-PA-0004",
            "area_id": "PA-0004",
            "status": "committed",
            "objective": "first-time fix back above 75 %",
            "key_results": [{"kpi": "ftf_rate", "target": 0.75}],
        },
    )
    with PulseStore.open(pulse_url) as pulse:
        for as_of, ftf in (
            (yesterday - timedelta(hours=1), (0.70, 0.64)),
            (now - timedelta(minutes=5), (0.76, 0.62)),
        ):
            pulse.write(
                as_of,
                pl.DataFrame(
                    {
                        "area_id": ["PA-0004", "PA-0007"],
                        "ftf_rate": list(ftf),
                        "nps": [41.0, 12.0],
                    }
                ),
            )
    return Network(
        now=now,
        yesterday=yesterday,
        surge_run_id=run.run_id,
        surge_gate_id=gated.gate_id,
        waiting_gate_id=waiting.gate_id,
    )


def clock_at(now: datetime) -> Clock:
    """A fake clock at ``now`` (the chat's "yesterday" is relative to it)."""
    return FakeClock(now)
