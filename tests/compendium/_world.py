"""Runs and decisions written through the real control plane and self-learn store."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from tailguard.clock import Clock, FakeClock
from tailguard.control import (
    ControlPlane,
    Evaluation,
    Policy,
    RiskLevel,
    RunView,
    Tool,
    ToolContext,
    ToolRegistry,
)
from tailguard.learning import SelfLearnStore
from tailguard.learning.store import Decision, StatusUpdate
from tailguard.ledger import Ledger

_Q = re.compile(r"q=(\d+(?:\.\d+)?)")


class GoalScorer:
    """Scores a run with the ``q=NN`` its goal text names (a scorer plug-in, for exact numbers)."""

    def score(self, view: RunView) -> Evaluation:
        """The quality named in the goal; 50 when none."""
        match = _Q.search(str(view.run.get("goal_text") or ""))
        q = float(match.group(1)) if match else 50.0
        return Evaluation(quality_score=q, objective_met="yes" if q >= 60 else "no")


def _echo(args: Mapping[str, Any], ctx: ToolContext) -> Any:
    del ctx
    return dict(args)


def make_plane(ledger: Ledger, clock: Clock) -> ControlPlane:
    """A control plane with ``lookup`` (read) and ``act`` (suggest) tools."""
    registry = ToolRegistry()
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}}
    registry.register(
        Tool(
            name="lookup",
            description="look",
            parameters=schema,
            handler=_echo,
            policy=Policy(risk_level=RiskLevel.READ, idempotent=True),
        )
    )
    registry.register(
        Tool(
            name="act",
            description="act",
            parameters=schema,
            handler=_echo,
            policy=Policy(risk_level=RiskLevel.SUGGEST),
        )
    )
    return ControlPlane(registry, ledger, clock=clock, scorer=GoalScorer())


def add_runs(plane: ControlPlane, role: str, tool: str, qualities: Iterable[float]) -> list[str]:
    """One finished run per quality score, each executing ``tool`` once; their run ids."""
    ids = []
    for q in qualities:
        run = plane.start_run(role, f"{role}-user", f"work q={q}")
        plane.execute(run, tool, {"x": 1})
        plane.finish_run(run)
        ids.append(run.run_id)
    return ids


def add_decisions(
    plane: ControlPlane,
    store: SelfLearnStore,
    clock: FakeClock,
    *,
    kind: str,
    kpi: str,
    deltas: Iterable[float],
    area_type: str = "urban",
    prefix: str = "d",
    measure_after: timedelta = timedelta(days=1),
) -> list[str]:
    """Executed decisions of ``kind`` whose ``kpi`` moved by ``deltas`` (measured later)."""
    ids = []
    for k, delta in enumerate(deltas):
        run = plane.start_run("area_agent", "agent", f"{kind} {k}")
        step = plane.execute(run, "act", {"x": k})
        plane.finish_run(run)
        did = f"{prefix}-{kind}-{k}"
        now = clock.now()
        store.record_decisions(
            [
                Decision(
                    decision_id=did,
                    area_id="PA-0001",
                    entry_id=kind,
                    kind=kind,
                    tool_name="act",
                    trigger="rule",
                    target_type="tech",
                    target_id=f"T{k}",
                    args={"x": k},
                    context={"bucket": f"{area_type}|-"},
                    propensity=0.5,
                    policy_version="v1",
                    decided_at=now,
                    outcome_kpi=kpi,
                    baseline_value=100.0,
                    horizon_at=now + measure_after,
                )
            ]
        )
        store.update_status(
            [
                StatusUpdate(
                    decision_id=did,
                    status="executed",
                    run_id=run.run_id,
                    step_id=step.step_id,
                    executed_at=now,
                )
            ]
        )
        store.record_outcomes([(did, 100.0 + delta)], measured_at=now + measure_after)
        ids.append(did)
    return ids
