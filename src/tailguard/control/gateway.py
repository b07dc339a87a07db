"""One governed call from an outside surface (MCP, a voice webhook), and its approval check.

Each call is a control-plane run of its own: the run is opened, the tool goes through
:meth:`ControlPlane.execute` (policy, rate limit, budget, approval gate, ledger), and the run is
closed with its outcome, unless the call waits at an approval gate. Then the run stays
``waiting_approval`` and the caller is given the gate id; :meth:`Gateway.check` later reports
the decision and, once approved, runs the call exactly once (:meth:`ControlPlane.resume`
replays the stored result to every later check) and closes the run.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tailguard.control import ControlPlane, Run, StepOutcome, StepResult
from tailguard.errors import ConflictError, NotFoundError, PermissionDeniedError

# How each step outcome closes its run.
_RUN_STATUS = {
    StepOutcome.EXECUTED: "completed",
    StepOutcome.ERROR: "failed",
    StepOutcome.REJECTED: "aborted",
    StepOutcome.RATE_LIMITED: "aborted",
    StepOutcome.BUDGET_EXCEEDED: "aborted",
}
_FINISHED = frozenset({"completed", "failed", "aborted"})


@dataclass(frozen=True, kw_only=True, slots=True)
class CallReport:
    """What a governed call (or a check on its gate) came to.

    Attributes:
        status: ``executed``, ``pending_approval``, ``rejected``, ``timeout``, ``running``,
            ``rate_limited``, ``budget_exceeded`` or ``error``.
        tool_name: the tool.
        run_id: the control-plane run.
        step_id: the ledger step.
        gate_id: the approval gate, when the call has one.
        value: the tool's result when executed.
        reason: why it did not execute.
        replayed: the stored result of an earlier execution; nothing ran again.
    """

    status: str
    tool_name: str
    run_id: str
    step_id: str | None = None
    gate_id: str | None = None
    value: Any = None
    reason: str | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        """True when the tool ran."""
        return self.status == "executed"

    @property
    def waiting(self) -> bool:
        """True while a person has not decided the call's gate."""
        return self.status == "pending_approval"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "status": self.status,
            "tool": self.tool_name,
            "run_id": self.run_id,
            "step_id": self.step_id,
            "gate_id": self.gate_id,
            "result": self.value,
            "reason": self.reason,
            "replayed": self.replayed,
        }

    def text(self) -> str:
        """The report for a model or a person: the result as JSON, or what happened."""
        if self.ok:
            return json.dumps(self.value, default=str)
        if self.waiting:
            return (
                f"{self.tool_name} needs a person's approval before it runs; nothing has "
                f"happened yet. Approval gate {self.gate_id} is pending; an approver decides "
                f"it in the approvals inbox (POST /v1/approvals/{self.gate_id}). Then call "
                f'check_approval with {{"gate_id": "{self.gate_id}"}} to get the outcome.'
            )
        if self.status == "running":
            return f"{self.tool_name} was approved and is running now; check again shortly."
        return f"{self.tool_name} did not run ({self.status}): {self.reason or 'no reason given'}"


def _report(result: StepResult, *, status: str | None = None) -> CallReport:
    return CallReport(
        status=status or result.outcome.value,
        tool_name=result.tool_name,
        run_id=result.run_id,
        step_id=result.step_id,
        gate_id=result.gate_id,
        value=result.value if result.ok else None,
        reason=result.reason,
        replayed=result.replayed,
    )


class Gateway:
    """Governed calls for callers outside the role-agent loop.

    Args:
        control: the control plane (its registry holds the tools callers may use).
        on_start: called with each new run before its call executes (to record what the run
            needs in other processes); if it raises, the run is closed as failed.
    """

    def __init__(
        self, control: ControlPlane, *, on_start: Callable[[Run], None] | None = None
    ) -> None:
        self.control = control
        self.on_start = on_start

    def call(
        self,
        *,
        role: str,
        principal: str,
        tool_name: str,
        args: Mapping[str, Any],
        conversation_id: str | None = None,
        goal_text: str | None = None,
    ) -> CallReport:
        """Run one tool call as its own run of ``role`` started by ``principal``.

        Raises:
            BudgetExceededError: the principal reached the daily run cap (no run started).
            LedgerError: the ledger could not be written.
        """
        run = self.control.start_run(
            role,
            principal,
            goal_text or f"{role} call of {tool_name}",
            conversation_id=conversation_id,
        )
        if self.on_start is not None:
            try:
                self.on_start(run)
            except BaseException:
                self._finish(run, "failed")
                raise
        result = self.control.execute(run, tool_name, args, requester_id=principal)
        if result.outcome is not StepOutcome.PENDING_APPROVAL:
            self._finish(run, _RUN_STATUS[result.outcome])
        return _report(result)

    def check(self, *, principal: str, gate_id: str) -> CallReport:
        """The outcome of a gated call: still pending, rejected, timed out, or its result.

        An approved call runs here if nobody ran it yet (exactly once across processes).

        Raises:
            NotFoundError: no such gate.
            PermissionDeniedError: the gate is someone else's call.
        """
        gate = self.control.gates.get(gate_id)
        if principal not in (gate.requester_id, gate.initiator_id):
            raise PermissionDeniedError(f"approval gate {gate_id} belongs to another caller")
        self.control.expire_gates()
        gate = self.control.gates.get(gate_id)
        base = CallReport(
            status=gate.decision,
            tool_name=gate.tool_name,
            run_id=gate.run_id,
            step_id=gate.step_id,
            gate_id=gate_id,
        )
        if gate.decision == "pending":
            return replace(base, status="pending_approval")
        run = self.control.get_run(gate.run_id)
        if gate.decision != "approved":
            self._finish(run, "aborted")
            verdict = "rejected by an approver" if gate.decision == "rejected" else "not decided"
            return replace(base, reason=f"{verdict}; it never runs")
        try:
            result = self.control.resume(gate_id)
        except ConflictError:
            return replace(base, status="running")
        if not self.control.pending_gates(run.run_id):
            self._finish(run, _RUN_STATUS.get(result.outcome, "failed"))
        return _report(result)

    def _finish(self, run: Run, status: str) -> None:
        """Close ``run`` once; a run someone else closed first is left as it is."""
        record = self.control.ledger.latest("run", run.run_id)
        if record is None:
            raise NotFoundError(f"unknown run {run.run_id!r}")
        if record.fields["status"] in _FINISHED:
            return
        # Finished concurrently, or another gate of the run is still open: leave it.
        with contextlib.suppress(ConflictError):
            self.control.finish_run(run, status)
