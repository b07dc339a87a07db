"""Approval gates of the control plane: decide, resume exactly once, and time out.

A gated call waits in the gate table (:mod:`.gates`) until an approver decides it. The decision
must match the pending gate, the requester cannot approve their own gate, and a gate past its
deadline expires and never runs. An approved call runs once across all processes through
:meth:`Approvals.resume`.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tailguard.clock import format_ts
from tailguard.control.batch_parts import claim_all, claim_json, rows_by_id
from tailguard.control.budget import FINISHED_STATUSES, totals_of_row
from tailguard.control.executor import Executor
from tailguard.control.gates import Approvers, pending_of_row
from tailguard.control.records import PlaneParts, RunRecorder, pending_dict, run_of_row
from tailguard.control.results import (
    DecisionRequest,
    GateDecision,
    PendingCall,
    StepOutcome,
    StepResult,
)
from tailguard.control.store import claims, gates, runs
from tailguard.control.tools import args_hash
from tailguard.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    TailguardError,
)
from tailguard.identity import same_principal


class Approvals(RunRecorder):
    """Decide, resume, cancel and time out approval gates.

    Args:
        parts: what the plane's parts share.
        approvers: who may decide gates; None means every gated call is denied.
        executor: runs the approved calls (resumption is the one execute path too).
    """

    def __init__(
        self, parts: PlaneParts, *, approvers: Approvers | None, executor: Executor
    ) -> None:
        super().__init__(parts)
        self.approvers = approvers
        self._executor = executor

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
        request = DecisionRequest(gate_id, decision, approver_id, edited_args, reason)
        (outcome,) = self.decide_many([request])
        if isinstance(outcome, TailguardError):
            raise outcome
        return outcome

    def decide_many(
        self, requests: Sequence[DecisionRequest]
    ) -> list[GateDecision | TailguardError]:
        """Several decisions in one transaction: an inbox's "decide the selected gates".

        Each request gets what :meth:`decide` would give it, in order: the recorded decision,
        or the error ``decide`` would raise (a refused request writes nothing; the others are
        still decided). The records are the ones one-by-one decisions write, in the same
        order: a run whose last pending gate is decided here goes back to ``running`` once,
        after that gate (with one exception: a run with a gate decided here and another found
        past its deadline resumes after the timeout, which is recorded second). Gates found
        past their deadline time out in a second transaction and their requests get a
        ``ConflictError``; a failure of that second transaction leaves those gates to the next
        sweep and loses no decision.

        Raises:
            ConflictError: a gate read as pending under its lock was decided meanwhile (the
                whole batch rolls back; it cannot happen while the locks hold).
            LedgerError: the batch could not be recorded (nothing was decided).
        """
        out: list[GateDecision | TailguardError | None] = [None] * len(requests)
        expired: dict[str, int] = {}  # gate -> request index
        now = self.clock.now()
        # Read, check, decide and record in one transaction (the gate rows are locked on
        # PostgreSQL; SQLite holds the write lock): a refused request writes nothing.
        with self._batch_tx() as tx:
            conn = tx.conn
            calls = self.gates.get_many_in(conn, [r.gate_id for r in requests])
            allowed: dict[tuple[str, str, str], bool] = {}  # approvers asked once per kind
            won: list[tuple[int, PendingCall, str, dict[str, Any] | None]] = []
            for index, request in enumerate(requests):
                call = calls.get(request.gate_id)
                if call is None:
                    out[index] = NotFoundError(f"unknown approval gate {request.gate_id!r}")
                    continue
                checked = self._check_decision(call, request, now, allowed)
                if isinstance(checked, TailguardError):
                    out[index] = checked
                    continue
                if checked is None:  # past its deadline: timed out below, as decide does
                    expired[call.gate_id] = index
                    calls[call.gate_id] = PendingCall(
                        **{**pending_dict(call), "decision": "timeout"}
                    )
                    continue
                final, edited = checked
                # A gate decided here is no longer pending for the requests after it.
                calls[call.gate_id] = PendingCall(**{**pending_dict(call), "decision": final})
                won.append((index, call, final, edited))
            # The rows were read pending and unexpired under their locks (FOR UPDATE; SQLite:
            # the write lock), so every update wins; one that did not would roll all back.
            self.gates.decide_all_in(
                conn,
                [
                    (call.gate_id, final, requests[i].approver_id, requests[i].reason, edited)
                    for i, call, final, edited in won
                ],
                now=now,
            )
            tx.append_many(self._decisions_records(tx, won, requests, now))
        for index, call, final, edited in won:
            request = requests[index]
            out[index] = GateDecision(
                gate_id=call.gate_id,
                run_id=call.run_id,
                step_id=call.step_id,
                tool_name=call.tool_name,
                decision=final,
                decided_by=request.approver_id,
                decided_at=now,
                reason=request.reason,
                edited=edited is not None,
            )
        if expired:
            # The decisions above are committed whatever happens here: a failure to record the
            # timeouts now leaves them to the next sweep (the gates can never run: they are
            # past their deadline), and each request still says its gate timed out.
            with contextlib.suppress(TailguardError):
                self.expire_gates(now, gate_ids=list(expired))
            for gate_id, index in expired.items():
                deadline = calls[gate_id].expires_at  # the deadline, kept with the timeout
                assert deadline is not None
                out[index] = ConflictError(f"gate {gate_id} timed out at {format_ts(deadline)}")
        assert all(o is not None for o in out)
        return [o for o in out if o is not None]

    def _check_decision(
        self,
        call: PendingCall,
        request: DecisionRequest,
        now: datetime,
        allowed: dict[tuple[str, str, str], bool],
    ) -> tuple[str, dict[str, Any] | None] | TailguardError | None:
        """``(final decision, edited args)``, why ``decide`` refuses, or None: expired."""
        approver_id = request.approver_id
        if request.decision not in ("approve", "reject"):
            return InvalidInputError(
                f"decision must be 'approve' or 'reject', not {request.decision!r}"
            )
        if call.decision != "pending":
            return ConflictError(f"gate {call.gate_id} is already {call.decision}")
        if self.approvers is None:
            return PermissionDeniedError("no approver is configured; gated calls are denied")
        if same_principal(approver_id, call.initiator_id) or same_principal(
            approver_id, call.requester_id
        ):
            return PermissionDeniedError(
                f"{approver_id!r} started this run and may not decide its gates"
            )
        key = (approver_id, call.tool_name, call.risk_level)
        if key not in allowed:
            allowed[key] = self.approvers.can_decide(
                approver_id, tool_name=call.tool_name, risk_level=call.risk_level
            )
        if not allowed[key]:
            return PermissionDeniedError(
                f"{approver_id!r} may not decide gates for {call.tool_name}"
            )
        if call.expires_at is not None and now >= call.expires_at:
            return None
        edited: dict[str, Any] | None = None
        if request.edited_args is not None:
            if request.decision != "approve":
                return InvalidInputError("edited arguments come only with an approval")
            try:
                edited = self.registry.validate(call.tool_name, request.edited_args)
            except TailguardError as exc:
                return exc
        return ("approved" if request.decision == "approve" else "rejected"), edited

    def _decisions_records(
        self,
        tx: Any,
        won: Sequence[tuple[int, PendingCall, str, dict[str, Any] | None]],
        requests: Sequence[DecisionRequest],
        now: datetime,
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """The decisions' records, each run resumed after its last gate decided here."""
        if not won:
            return []
        run_ids = list(dict.fromkeys(call.run_id for _, call, _, _ in won))
        still_waiting = self.gates.pending_runs_in(tx.conn, run_ids)
        resumable = [r for r in run_ids if r not in still_waiting]
        run_rows = rows_by_id(tx.conn, set(resumable))
        counts = tx.step_counts(resumable)
        left = Counter(call.run_id for _, call, _, _ in won)
        records: list[tuple[str, Mapping[str, Any]]] = []
        for index, call, final, edited in won:
            request = requests[index]
            records += self._decision_records(
                call, final, request.approver_id, now, edited, request.reason
            )
            left[call.run_id] -= 1
            row = run_rows.get(call.run_id)
            if left[call.run_id] or row is None or row.status in FINISHED_STATUSES:
                continue
            # Every gated step is in the ledger since its gate was presented.
            steps = counts.get(call.run_id, 0)
            records.append(
                (
                    "run",
                    self._run_fields(
                        run_of_row(row), "running", steps_count=steps, totals=totals_of_row(row)
                    ),
                )
            )
        return records

    def _decision_records(
        self,
        call: PendingCall,
        final: str,
        approver_id: str,
        now: datetime,
        edited: dict[str, Any] | None,
        reason: str | None,
    ) -> list[tuple[str, Mapping[str, Any]]]:
        gate_id = call.gate_id
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
        return records

    def resume(self, gate_id: str) -> StepResult:
        """Run an approved call, exactly once across all processes.

        A second resumption of the same gate returns the first one's stored result with
        ``replayed=True`` and runs nothing.

        Raises:
            NotFoundError: no such gate, or its tool is no longer registered (checked before
                the gate is claimed, so it can be resumed once the tool is back).
            ConflictError: the gate is pending, rejected or timed out, or another process is
                running (or crashed while running) the call; the handler's idempotency key is
                the step id, for reconciling with the downstream system.
        """
        call = self.gates.get(gate_id)
        if call.decision == "pending" and call.expires_at is not None:
            now = self.clock.now()
            if now >= call.expires_at:
                self._expire(call, now)
                raise ConflictError(f"gate {gate_id} timed out; the call never runs")
        result = self._executor.resume_batch([gate_id])[gate_id]
        if isinstance(result, TailguardError):
            raise result
        return result

    def awaiting_execution(self, *, run_id: str | None = None) -> list[PendingCall]:
        """Approved calls nobody has run or cancelled yet (see :meth:`resume_awaiting`)."""
        return self.gates.awaiting_execution(run_id=run_id)

    def resume_awaiting(self, *, grace_s: float = 0.0) -> dict[str, StepResult | TailguardError]:
        """Run every approved call that nobody claimed, each exactly once across processes.

        A process that died after committing an approval and before running the call left
        the gate ``approved`` and unclaimed; a restarted service (or a periodic sweep) calls
        this to finish the job. Only gates whose tool this process holds are resumed; the
        others are left for the process that holds them.

        Args:
            grace_s: leave gates approved less than this many seconds ago (the process that
                approved them is probably resuming them right now; the claim would make it
                safe anyway, but its caller would be told "resumed elsewhere").

        Returns:
            Per gate resumed here: its result, or the error :meth:`resume_batch` gives it.
        """
        before = self.clock.now() - timedelta(seconds=grace_s) if grace_s > 0 else None
        due = [
            call.gate_id
            for call in self.gates.awaiting_execution(decided_before=before)
            if call.tool_name in self.registry
        ]
        if not due:
            return {}
        return self._executor.resume_batch(due)

    def cancel_approved(
        self, gate_id: str, operator_id: str, *, reason: str | None = None
    ) -> StepResult:
        """Cancel an approved call that has not run: it never runs.

        The gate stays ``approved`` (that decision was made and is in the ledger); the claim
        that would run it is taken as ``cancelled``, so no resumer can run it, and its step is
        recorded ``rejected`` with who cancelled it and why, with a ``gate_detail`` record.

        Raises:
            NotFoundError: no such gate.
            PermissionDeniedError: no approver is configured, or ``operator_id`` may not decide
                this gate (the rules of :meth:`decide`).
            ConflictError: the gate is not approved, or its call already ran or was cancelled
                (or is running now).
        """
        call = self.gates.get(gate_id)
        if call.decision != "approved":
            raise ConflictError(
                f"gate {gate_id} is {call.decision}; only an approved call is cancelled"
            )
        if self.approvers is None:
            raise PermissionDeniedError("no approver is configured; gated calls are denied")
        own = same_principal(operator_id, call.initiator_id) or same_principal(
            operator_id, call.requester_id
        )
        if own or not self.approvers.can_decide(
            operator_id, tool_name=call.tool_name, risk_level=call.risk_level
        ):
            raise PermissionDeniedError(
                f"{operator_id!r} may not cancel gates for {call.tool_name}"
            )
        now = self.clock.now()
        why = f"cancelled by {operator_id}: {reason or 'no reason given'}"
        result = StepResult(
            outcome=StepOutcome.REJECTED,
            run_id=call.run_id,
            step_id=call.step_id,
            tool_name=call.tool_name,
            value=None,
            gate_id=gate_id,
            reason=why,
        )
        with self._batch_tx() as tx:
            if not claim_all(tx.conn, [gate_id], now):
                raise ConflictError(
                    f"gate {gate_id}: its call already ran, is running, or was cancelled"
                )
            tx.conn.execute(
                sa.update(claims)
                .where(claims.c.gate_id == gate_id)
                .values(state="cancelled", result_json=claim_json(result))
            )
            records: list[tuple[str, Mapping[str, Any]]] = [
                (
                    "gate_detail",
                    {
                        "gate_detail_id": gate_id,
                        "run_id": call.run_id,
                        "cancelled_by": operator_id,
                        "cancelled_at": format_ts(now),
                        "cancel_reason": reason,
                    },
                )
            ]
            records += self._stopped_step_records(call, "rejected", why)
            tx.append_many(records)
        return result

    def expire_gates(
        self, now: datetime | None = None, *, gate_ids: Sequence[str] | None = None
    ) -> list[str]:
        """Time out every pending gate past its deadline (or only those of ``gate_ids``).

        Returns the gates expired here.
        """
        now = now or self.clock.now()
        at = now.timestamp()
        overdue = [
            gates.c.decision == "pending",
            gates.c.expires_at.is_not(None),
            gates.c.expires_at <= at,
        ]
        with self._batch_tx() as tx:
            conn = tx.conn
            # Rows are locked in gate-id order, as every batch locks gates (GateStore.rows_in),
            # so two batches over the same gates on PostgreSQL wait for each other, never
            # deadlock; the records then follow the order the gates were presented in.
            if gate_ids is None:
                rows = list(
                    conn.execute(
                        sa.select(gates).where(*overdue).order_by(gates.c.gate_id).with_for_update()
                    )
                )
            else:
                rows = [
                    row
                    for row in self.gates.rows_in(conn, gate_ids, lock=True).values()
                    if row.decision == "pending"
                    and row.expires_at is not None
                    and row.expires_at <= at
                ]
            due = [
                pending_of_row(row)
                for row in sorted(rows, key=lambda r: (r.presented_at, r.gate_id))
            ]
            if not due:
                return []
            # The rows are locked (FOR UPDATE; SQLite: the write lock), so every one is still
            # pending: the compare-and-set below wins for all of them.
            conn.execute(
                sa.update(gates)
                .where(gates.c.gate_id == sa.bindparam("gid"), gates.c.decision == "pending")
                .values(
                    decision="timeout",
                    decided_by="system",
                    decided_at=at,
                    decision_reason="approval timeout",
                ),
                [{"gid": call.gate_id} for call in due],
            )
            run_ids = list(dict.fromkeys(call.run_id for call in due))
            still_waiting = self.gates.pending_runs_in(conn, run_ids)
            resumable = [r for r in run_ids if r not in still_waiting]
            run_rows = rows_by_id(conn, set(resumable))
            counts = tx.step_counts(resumable)
            left = dict.fromkeys(run_ids, 0)
            for call in due:
                left[call.run_id] += 1
            records: list[tuple[str, Mapping[str, Any]]] = []
            for call in due:
                records.append(
                    ("gate", self._gate_fields(call, "timeout", decided_by=None, decided_at=now))
                )
                records += self._stopped_step_records(
                    call, "skipped", "gate_timeout: nobody decided in time"
                )
                left[call.run_id] -= 1
                row = run_rows.get(call.run_id)
                if left[call.run_id] or row is None or row.status in FINISHED_STATUSES:
                    continue
                # Every gated step is in the ledger since its gate was presented.
                records.append(
                    (
                        "run",
                        self._run_fields(
                            run_of_row(row),
                            "running",
                            steps_count=counts.get(call.run_id, 0),
                            totals=totals_of_row(row),
                        ),
                    )
                )
            tx.append_many(records)
        return [call.gate_id for call in due]

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
