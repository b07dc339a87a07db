"""Approval gates of the control plane: decide, resume exactly once, and time out.

A gated call waits in the gate table (:mod:`.gates`) until an approver decides it. The decision
must match the pending gate, the requester cannot approve their own gate, and a gate past its
deadline expires and never runs. An approved call runs once across all processes through
:meth:`GateMixin.resume`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tailguard.clock import format_ts
from tailguard.control.budget import FINISHED_STATUSES
from tailguard.control.gates import Approvers
from tailguard.control.records import RunRecorder, jsonable, pending_dict
from tailguard.control.results import GateDecision, PendingCall, StepOutcome, StepResult
from tailguard.control.store import runs
from tailguard.control.tools import args_hash
from tailguard.control.wrappers import Call
from tailguard.errors import ConflictError, InvalidInputError, PermissionDeniedError


class GateMixin(RunRecorder):
    """The approval-gate methods of ``ControlPlane``."""

    approvers: Approvers | None

    def _run_call(self, call: Call) -> StepResult:
        """Send ``call`` down the governed chain and record it (``ControlPlane`` runs it)."""
        raise NotImplementedError

    def pending_gates(self, run_id: str | None = None) -> list[PendingCall]:
        """Gates waiting for a decision (of one run, or all)."""
        if run_id is not None:
            return self.gates.pending_for_run(run_id)
        return self.gates.find(decisions=["pending"])

    def decide(
        self,
        gate_id: str,
        decision: str,
        approver_id: str,
        *,
        edited_args: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> GateDecision:
        """Approve or reject a pending gate; accepted once.

        Args:
            gate_id: the pending gate.
            decision: ``approve`` or ``reject``.
            approver_id: who decides; never the run's initiator or the call's requester.
            edited_args: approve with these arguments instead (validated and recorded).
            reason: why (recorded).

        Raises:
            NotFoundError: no such gate.
            InvalidInputError: a bad decision or invalid edited arguments.
            PermissionDeniedError: no approver configured, or this person may not decide.
            ConflictError: the gate was already decided or has timed out.
        """
        if decision not in ("approve", "reject"):
            raise InvalidInputError(f"decision must be 'approve' or 'reject', not {decision!r}")
        call = self.gates.get(gate_id)
        if call.decision != "pending":
            raise ConflictError(f"gate {gate_id} is already {call.decision}")
        if self.approvers is None:
            raise PermissionDeniedError("no approver is configured; gated calls are denied")
        if approver_id in (call.initiator_id, call.requester_id):
            raise PermissionDeniedError(
                f"{approver_id!r} started this run and may not decide its gates"
            )
        if not self.approvers.can_decide(
            approver_id, tool_name=call.tool_name, risk_level=call.risk_level
        ):
            raise PermissionDeniedError(
                f"{approver_id!r} may not decide gates for {call.tool_name}"
            )
        now = self.clock.now()
        if call.expires_at is not None and now >= call.expires_at:
            self._expire(call, now)
            raise ConflictError(f"gate {gate_id} timed out at {format_ts(call.expires_at)}")
        edited: dict[str, Any] | None = None
        if edited_args is not None:
            if decision != "approve":
                raise InvalidInputError("edited arguments come only with an approval")
            edited = self.registry.validate(call.tool_name, edited_args)
        final = "approved" if decision == "approve" else "rejected"
        won = self.gates.decide(
            gate_id, decision=final, decided_by=approver_id, now=now, args=edited, reason=reason
        )
        if not won:
            current = self.gates.get(gate_id)
            if current.decision == "pending":  # it expired between our check and the update
                self._expire(current, now)
                raise ConflictError(f"gate {gate_id} timed out")
            raise ConflictError(f"gate {gate_id} is already {current.decision}")
        gate_fields = self._gate_fields(call, final, decided_by=approver_id, decided_at=now)
        detail: dict[str, Any] = {
            "gate_detail_id": gate_id,
            "run_id": call.run_id,
            "decision_reason": reason,
            "edited": edited is not None,
        }
        if edited is not None:
            detail["edited_args_hash"] = args_hash(edited)
            detail["edited_audit_args"] = self._audit_args(call.tool_name, edited)
        records: list[tuple[str, Mapping[str, Any]]] = [
            ("gate", gate_fields),
            ("gate_detail", detail),
        ]
        if final == "rejected":
            records += self._stopped_step_records(
                call, "rejected", f"rejected by {approver_id}: {reason or 'no reason given'}"
            )
        else:
            records += self._stopped_step_records(
                PendingCall(**{**pending_dict(call), "args": edited or call.args}),
                "approved",
                f"approved_awaiting_execution: approved by {approver_id}",
            )
        records += self._run_resumed_records(call.run_id, exclude_gate=gate_id)
        self._append(records)
        return GateDecision(
            gate_id=gate_id,
            run_id=call.run_id,
            step_id=call.step_id,
            tool_name=call.tool_name,
            decision=final,
            decided_by=approver_id,
            decided_at=now,
            reason=reason,
            edited=edited is not None,
        )

    def resume(self, gate_id: str) -> StepResult:
        """Run an approved call, exactly once across all processes.

        A second resumption of the same gate returns the first one's stored result with
        ``replayed=True`` and runs nothing.

        Raises:
            NotFoundError: no such gate.
            ConflictError: the gate is pending, rejected or timed out, or another process is
                running (or crashed while running) the call; the handler's idempotency key is
                the step id, for reconciling with the downstream system.
        """
        call = self.gates.get(gate_id)
        now = self.clock.now()
        if call.decision == "pending":
            if call.expires_at is not None and now >= call.expires_at:
                self._expire(call, now)
                raise ConflictError(f"gate {gate_id} timed out; the call never runs")
            raise ConflictError(f"gate {gate_id} is still pending")
        if call.decision != "approved":
            raise ConflictError(f"gate {gate_id} is {call.decision}; the call never runs")
        if not self.gates.claim(gate_id, now=now):
            stored = self.gates.claim_result(gate_id)
            if stored is None:
                raise ConflictError(
                    f"gate {gate_id} is being resumed elsewhere (or its resumer crashed; "
                    f"reconcile with idempotency key {call.idempotency_key})"
                )
            return StepResult(
                outcome=StepOutcome(stored["outcome"]),
                run_id=call.run_id,
                step_id=call.step_id,
                tool_name=call.tool_name,
                value=stored.get("value"),
                gate_id=gate_id,
                reason=stored.get("reason"),
                retries=int(stored.get("retries", 0)),
                latency_ms=stored.get("latency_ms"),
                replayed=True,
            )
        result = self._run_call(
            Call(
                run=self.get_run(call.run_id),
                tool_name=call.tool_name,
                args=call.args,
                step_id=call.step_id,
                requester_id=call.requester_id,
                idempotency_key=call.idempotency_key,
                gate_id=gate_id,
            )
        )
        self.gates.finish_claim(
            gate_id,
            {
                "outcome": result.outcome.value,
                "value": jsonable(result.value),
                "reason": result.reason,
                "retries": result.retries,
                "latency_ms": result.latency_ms,
            },
        )
        return result

    def expire_gates(self, now: datetime | None = None) -> list[str]:
        """Time out every pending gate past its deadline; returns the gates expired here."""
        now = now or self.clock.now()
        expired = []
        for gate_id in self.gates.due(now):
            if self._expire(self.gates.get(gate_id), now):
                expired.append(gate_id)
        return expired

    def _expire(self, call: PendingCall, now: datetime) -> bool:
        won = self.gates.decide(
            call.gate_id,
            decision="timeout",
            decided_by="system",
            now=now,
            reason="approval timeout",
            require_unexpired=False,
        )
        if not won:
            return False
        records: list[tuple[str, Mapping[str, Any]]] = [
            ("gate", self._gate_fields(call, "timeout", decided_by=None, decided_at=now))
        ]
        records += self._stopped_step_records(
            call, "skipped", "gate_timeout: nobody decided in time"
        )
        records += self._run_resumed_records(call.run_id, exclude_gate=call.gate_id)
        self._append(records)
        return True

    def _run_resumed_records(
        self, run_id: str, *, exclude_gate: str
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """A ``running`` run record once the run's last pending gate is decided."""
        if any(g.gate_id != exclude_gate for g in self.gates.pending_for_run(run_id)):
            return []
        with self.store.read() as conn:
            status = conn.execute(sa.select(runs.c.status).where(runs.c.run_id == run_id)).scalar()
        if status in FINISHED_STATUSES:
            return []
        return [("run", self._run_fields(self.get_run(run_id), "running"))]
