"""The exit criteria as live figures: each one computed from the ledger, met or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailguard.clock import FakeClock
from tailguard.compendium import Compendium
from tailguard.control import (
    ApproverList,
    ControlPlane,
    Evaluation,
    Policy,
    RiskLevel,
    RunBudget,
    RunView,
    Tool,
    ToolOutput,
    ToolRegistry,
    Usage,
)
from tailguard.ledger import Ledger
from tailguard.ops.exitcriteria import exit_criteria


class _GoalScorer:
    """Scores a run with the ``q=NN`` of its goal text."""

    def score(self, view: RunView) -> Evaluation:
        goal = str(view.run["goal_text"])
        return Evaluation(quality_score=float(goal.split("q=")[1]), objective_met="yes")


def _registry() -> ToolRegistry:
    registry = ToolRegistry()
    registry.register(
        Tool(
            name="send",
            description="send",
            parameters={"type": "object"},
            handler=lambda args, ctx: {"sent": True},
            policy=Policy(risk_level=RiskLevel.EXECUTE_HIGH, requires_approval=True),
        )
    )
    registry.register(
        Tool(
            name="spend",
            description="spend",
            parameters={"type": "object"},
            handler=lambda args, ctx: ToolOutput(value={}, usage=Usage(cost_usd=5.0)),
            policy=Policy(risk_level=RiskLevel.EXECUTE_LOW, success_metric="money_spent"),
        )
    )
    return registry


def test_each_criterion_reads_the_ledger(db_url: str, tmp_path: Path) -> None:
    """Untagged tool, 2 of 5 gates rejected, 4 of 5 runs at 60+, one run over its cap, no
    cross-role use and an empty compendium: exactly the criteria that should fail do."""
    clock = FakeClock()
    with Ledger.open(db_url, clock=clock) as ledger:
        registry = _registry()
        plane = ControlPlane(
            registry,
            ledger,
            clock=clock,
            approvers=ApproverList(approver_ids=frozenset({"anna"})),
            scorer=_GoalScorer(),
        )
        for k, q in enumerate((70, 75, 80, 90, 50)):
            run = plane.start_run("recruiter", "rec-001", f"send q={q}")
            gate = plane.execute(run, "send", {}).gate_id
            assert gate is not None
            plane.decide(gate, "approve" if k < 3 else "reject", "anna")
            if k < 3:
                plane.resume(gate)
            plane.finish_run(run)
        capped = plane.start_run(
            "recruiter", "rec-001", "spend q=90", budget=RunBudget(max_cost_usd=3.0)
        )
        plane.execute(capped, "spend", {}, estimate=Usage(cost_usd=1.0))
        plane.finish_run(capped)
        report = exit_criteria(ledger, registry, Compendium(tmp_path / "c"), now=clock.now())
    by_id: dict[str, dict[str, Any]] = {c["id"]: c for c in report["criteria"]}
    assert report["total"] == 8
    assert by_id["policy_tags"]["value"] == 0.5
    assert not by_id["policy_tags"]["met"]
    assert by_id["high_risk_gated"]["value"] == 1.0
    assert by_id["high_risk_gated"]["met"]
    assert by_id["quality_60"]["value"] == 5 / 6
    assert by_id["quality_60"]["met"]
    assert by_id["correlation_chain"]["met"]
    assert by_id["cost_within_caps"]["value"] == 5 / 6
    assert not by_id["cost_within_caps"]["met"]
    assert by_id["cross_role_live"]["value"] == 0
    assert not by_id["cross_role_live"]["met"]
    assert by_id["compendium_fresh"]["value"] is None
    assert not by_id["compendium_fresh"]["met"]
    assert by_id["human_override"]["value"] == 0.4
    assert not by_id["human_override"]["met"]
    assert report["met"] == 3
