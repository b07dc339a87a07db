"""The typed records the control plane hands back to its callers."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tailguard.control.budget import RunBudget


class StepOutcome(enum.StrEnum):
    """What became of one governed call."""

    EXECUTED = "executed"
    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    RATE_LIMITED = "rate_limited"
    BUDGET_EXCEEDED = "budget_exceeded"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True, slots=True)
class Run:
    """A handle on one run (an agent session); pass it to every call of the run.

    Any process can rebuild it with :meth:`ControlPlane.get_run`. ``area_id`` and ``hour``
    say what the run is about when it is an area's run for one hour (an area agent's), so it
    can be found again by them (:func:`tailguard.control.queries.runs_of`).
    """

    run_id: str
    role: str
    initiator_id: str
    goal_text: str | None
    conversation_id: str | None
    started_at: datetime
    budget: RunBudget
    area_id: str | None = None
    hour: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class StepResult:
    """The result of :meth:`ControlPlane.execute` or :meth:`ControlPlane.resume`.

    Attributes:
        outcome: executed, pending_approval, rejected, rate_limited, budget_exceeded or error.
        run_id: the run.
        step_id: the step (the ledger's ``step_id``; also the OpenTelemetry tool call id).
        tool_name: the tool called.
        value: the handler's return value when executed, else None.
        gate_id: the approval gate, when one was opened.
        reason: why the call did not execute (None when it did).
        retries: how many times an idempotent handler was retried.
        latency_ms: the handler's time, when it ran.
        replayed: this is the stored result of an earlier resumption; nothing ran again.
    """

    outcome: StepOutcome
    run_id: str
    step_id: str
    tool_name: str
    value: Any = None
    gate_id: str | None = None
    reason: str | None = None
    retries: int = 0
    latency_ms: float | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        """True when the tool ran successfully."""
        return self.outcome is StepOutcome.EXECUTED


@dataclass(frozen=True, kw_only=True, slots=True)
class GateDecision:
    """A recorded decision on an approval gate."""

    gate_id: str
    run_id: str
    step_id: str
    tool_name: str
    decision: str
    decided_by: str
    decided_at: datetime
    reason: str | None = None
    edited: bool = False


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """One decision of a batch (:meth:`ControlPlane.decide_many`): the arguments of ``decide``."""

    gate_id: str
    decision: str
    approver_id: str
    edited_args: Mapping[str, Any] | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PendingCall:
    """A call waiting at an approval gate, as stored for any process to resume."""

    gate_id: str
    run_id: str
    step_id: str
    tool_name: str
    args: dict[str, Any]
    risk_level: str
    reason: str
    requester_id: str
    initiator_id: str
    presented_at: datetime
    expires_at: datetime | None
    decision: str
    decided_by: str | None
    decided_at: datetime | None
    idempotency_key: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RunOutcome:
    """The evaluator's verdict on a finished run, as recorded in the ledger."""

    outcome_id: str
    run_id: str
    status: str
    quality_score: float
    objective_met: str
    follow_up_tasks: tuple[str, ...]
    outcome_deltas: dict[str, Any]
