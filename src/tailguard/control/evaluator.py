"""The outcome evaluator: a quality score 0-100, objective met or not, and follow-up tasks.

Scoring is a :class:`Scorer` protocol; :class:`HeuristicScorer` is the product document's v1
heuristic (baseline 50; -15 per tool error; +20 for a follow-up message; -25 per timed-out
gate; +10 per productive step up to +30; clamp to 0-100; ``yes`` from 60, ``partial`` from 30).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

PRODUCTIVE_STATUSES = frozenset({"executed"})
UNPRODUCTIVE_SUMMARIES = frozenset({"error", "empty"})


@dataclass(frozen=True, kw_only=True, slots=True)
class RunView:
    """Everything the ledger knows about a finished run, for a scorer.

    Attributes:
        run: the run's latest record fields.
        steps: the latest record of each step, in ledger order.
        gates: the latest record of each gate, in ledger order.
        follow_up: whether the user engaged again after the run (None = unknown).
        user_feedback: free-text feedback, if any.
    """

    run: Mapping[str, Any]
    steps: tuple[Mapping[str, Any], ...] = ()
    gates: tuple[Mapping[str, Any], ...] = ()
    follow_up: bool | None = None
    user_feedback: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Evaluation:
    """A scorer's verdict on a run."""

    quality_score: float
    objective_met: str
    follow_up_tasks: tuple[str, ...] = ()
    outcome_deltas: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Scorer(Protocol):
    """Scores a finished run."""

    def score(self, view: RunView) -> Evaluation:
        """Return the quality score, objective verdict and follow-up tasks of a run."""
        ...


def is_productive(step: Mapping[str, Any]) -> bool:
    """A step that ran and returned something (the KPI 'productive step')."""
    summary = step.get("result_summary")
    return step.get("status") in PRODUCTIVE_STATUSES and summary not in UNPRODUCTIVE_SUMMARIES


@dataclass(frozen=True, kw_only=True, slots=True)
class HeuristicScorer:
    """The product document's heuristic, with its weights as fields."""

    baseline: float = 50.0
    error_penalty: float = 15.0
    follow_up_bonus: float = 20.0
    timeout_penalty: float = 25.0
    productive_points: float = 10.0
    productive_cap: float = 30.0
    yes_from: float = 60.0
    partial_from: float = 30.0

    def score(self, view: RunView) -> Evaluation:
        """Score a run with the heuristic and propose follow-up tasks."""
        errors = [s for s in view.steps if s.get("status") == "error"]
        productive = [s for s in view.steps if is_productive(s)]
        rejected = [g for g in view.gates if g.get("decision") == "rejected"]
        timeouts = [g for g in view.gates if g.get("decision") == "timeout"]
        pending = [g for g in view.gates if g.get("decision") == "pending"]
        skipped = [s for s in view.steps if s.get("status") == "skipped"]

        score = self.baseline
        score -= self.error_penalty * len(errors)
        if view.follow_up:
            score += self.follow_up_bonus
        score -= self.timeout_penalty * len(timeouts)
        score += min(self.productive_cap, self.productive_points * len(productive))
        score = max(0.0, min(100.0, score))

        if not view.steps and not view.gates and view.follow_up is None:
            objective = "unknown"  # nothing happened that could be judged
        elif score >= self.yes_from:
            objective = "yes"
        elif score >= self.partial_from:
            objective = "partial"
        else:
            objective = "no"

        tasks: list[str] = []
        for step in errors:
            tasks.append(
                f"Investigate the error in {step.get('tool_name')} (step {step.get('step_id')})"
            )
        for gate in rejected:
            tasks.append(
                f"Revisit {gate.get('tool_name')}: rejected by {gate.get('decided_by')} "
                f"(gate {gate.get('gate_id')})"
            )
        for gate in timeouts:
            tasks.append(
                f"Re-request approval for {gate.get('tool_name')}: gate {gate.get('gate_id')} timed out"
            )
        for gate in pending:
            tasks.append(f"Decide pending gate {gate.get('gate_id')} for {gate.get('tool_name')}")
        for step in skipped:
            tasks.append(f"Retry {step.get('tool_name')} later: {step.get('result_summary')}")
        if objective in ("no", "partial") and not tasks:
            tasks.append(f"Review run {view.run.get('run_id')}: objective {objective}")

        deltas = {
            "steps": len(view.steps),
            "productive_steps": len(productive),
            "errors": len(errors),
            "skipped": len(skipped),
            "gates": len(view.gates),
            "rejected_gates": len(rejected),
            "timed_out_gates": len(timeouts),
            "rolled_back": sum(1 for s in view.steps if s.get("status") == "rolled_back"),
            "total_tokens": view.run.get("total_tokens"),
            "total_cost_usd": view.run.get("total_cost_usd"),
        }
        return Evaluation(
            quality_score=score,
            objective_met=objective,
            follow_up_tasks=tuple(tasks),
            outcome_deltas=deltas,
        )
