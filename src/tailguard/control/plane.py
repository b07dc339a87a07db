"""The control plane: the one path every governed call takes, and the evidence it leaves.

Area agents, LLM role loops, the MCP server and the HTTP service all call
:meth:`ControlPlane.execute`. A call goes down the wrapper chain of :mod:`.wrappers`
(validation, policy, rate limit, budget, approval gate, handler) and whatever comes back is
written to the ledger with the fields of INTERFACES.md section 5: ``run``, ``step``, ``gate``
and ``outcome`` records linked by ids, plus ``step_detail`` / ``gate_detail`` companion records
(audit fields in clear, usage, reasons) and ``alert`` records.

Fail closed: an unknown tool, bad arguments, a missing policy or approver, or a store that cannot
be written stops the step; a side-effecting tool (``execute_low`` and up) runs only after its
intent is in the ledger.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from tailguard.clock import Clock, SystemClock, format_ts
from tailguard.control.budget import FINISHED_STATUSES, Budgets, Reservation, RunBudget, RunTotals
from tailguard.control.evaluator import HeuristicScorer, RunView, Scorer
from tailguard.control.gates import Approvers, GateStore
from tailguard.control.policy import Policy, RiskLevel
from tailguard.control.ratelimit import RateLimiter, SqlRateLimiter
from tailguard.control.results import (
    GateDecision,
    PendingCall,
    Run,
    RunOutcome,
    StepOutcome,
    StepResult,
)
from tailguard.control.store import ControlStore, rollbacks, runs, step_payloads, to_micros
from tailguard.control.tools import Compensation, ToolRegistry, Usage, args_hash, canonical_json
from tailguard.control.tracing import RunTracer
from tailguard.control.wrappers import (
    Attempt,
    Call,
    Executor,
    InvokeHandler,
    ValidateArgs,
    governed_chain,
)
from tailguard.errors import (
    ConflictError,
    InvalidInputError,
    LedgerError,
    NotFoundError,
    PermissionDeniedError,
    PolicyError,
    TailguardError,
)


class RunLedger(Protocol):
    """The part of :class:`tailguard.ledger.Ledger` the control plane uses."""

    @property
    def engine(self) -> sa.Engine:
        """The database engine the control plane keeps its own tables on."""
        ...

    def append(self, kind: str, fields: Mapping[str, Any]) -> Any:
        """Append one record."""
        ...

    def append_many(self, items: Sequence[tuple[str, Mapping[str, Any]]]) -> Any:
        """Append records in one transaction."""
        ...

    def records(self, *, kind: str | None = None, run_id: str | None = None) -> Iterator[Any]:
        """Records in chain order, optionally of one kind or run."""
        ...

    def latest(self, kind: str, record_id: str) -> Any:
        """The newest record of an entity, or None."""
        ...


# Ledger step statuses for the outcomes that did not execute.
_STOPPED_STATUS = {
    StepOutcome.REJECTED: "rejected",
    StepOutcome.RATE_LIMITED: "skipped",
    StepOutcome.BUDGET_EXCEEDED: "skipped",
    StepOutcome.ERROR: "error",
}


def summarize(value: Any) -> str:
    """The shape of a result for the ledger: never its content, which may be personal data."""
    if value is None or value == "" or value == [] or value == {}:
        return "empty"
    if isinstance(value, bool | int | float):
        return f"value {value!r}"
    if isinstance(value, str):
        return f"text ({len(value)} chars)"
    if isinstance(value, Mapping):
        keys = sorted(str(k) for k in value)
        shown = ", ".join(keys[:8]) + (", ..." if len(keys) > 8 else "")
        return f"object ({shown})"
    if isinstance(value, list | tuple):
        return f"{len(value)} items"
    return type(value).__name__


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class ModelCall:
    """A reserved slot for one model call; report the actual usage with :meth:`record`."""

    def __init__(self, reservation: Reservation) -> None:
        self.reservation = reservation
        self.actual: Usage | None = None

    def record(self, usage: Usage) -> None:
        """The call's real usage (replaces the estimate when the slot closes)."""
        self.actual = usage


class ControlPlane:
    """Governed execution of tools, with runs, gates, budgets, rollback and outcomes.

    Args:
        registry: the tools and their policies.
        ledger: the run ledger (its engine also holds the control plane's tables).
        clock: the time source (a FakeClock in tests and the simulator).
        approvers: who may decide approval gates; None means every gated call is denied.
        rate_limiter: the rate-limit backend; default: counters in the ledger database.
        scorer: the outcome evaluator; default: the product document's heuristic.
        tracer_provider: OpenTelemetry provider for spans; default: no-op.
        daily_run_cap: runs per initiator per UTC day; None means unlimited.
        default_budget: the budget of runs started without one.
        max_retries: retries of an idempotent tool's failing handler.
    """

    def __init__(
        self,
        registry: ToolRegistry,
        ledger: RunLedger,
        *,
        clock: Clock | None = None,
        approvers: Approvers | None = None,
        rate_limiter: RateLimiter | None = None,
        scorer: Scorer | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        daily_run_cap: int | None = None,
        default_budget: RunBudget | None = None,
        max_retries: int = 2,
    ) -> None:
        self.registry = registry
        self.ledger = ledger
        self.clock: Clock = clock or SystemClock()
        self.approvers = approvers
        self.scorer: Scorer = scorer or HeuristicScorer()
        self.daily_run_cap = daily_run_cap
        self.default_budget = default_budget or RunBudget()
        self.store = ControlStore(ledger.engine)
        self.rate_limiter: RateLimiter = rate_limiter or SqlRateLimiter(self.store)
        self.budgets = Budgets(self.store)
        self.gates = GateStore(self.store)
        self.tracer = RunTracer(tracer_provider)
        self._chain: Executor = governed_chain(
            registry=registry,
            limiter=self.rate_limiter,
            budgets=self.budgets,
            gates=self.gates,
            approvers=approvers,
            clock=self.clock,
            on_alert=self._write_alert,
            before_handler=self._write_intent,
            max_retries=max_retries,
        )
        self._compensate: Executor = ValidateArgs(
            registry=registry, wrapped=InvokeHandler(clock=self.clock, max_retries=0)
        )

    # ----------------------------------------------------------------- runs

    def start_run(
        self,
        role: str,
        initiator_id: str,
        goal_text: str | None,
        *,
        conversation_id: str | None = None,
        budget: RunBudget | None = None,
    ) -> Run:
        """Open a run and write its ``run`` record (status ``running``).

        Raises:
            InvalidInputError: empty role or initiator.
            BudgetExceededError: the initiator reached the daily run cap.
            LedgerError: the run could not be recorded.
        """
        if not role or not initiator_id:
            raise InvalidInputError("a run needs a role and an initiator_id")
        budget = budget or self.default_budget
        now = self.clock.now()
        self.budgets.count_daily_run(initiator_id, now=now, cap=self.daily_run_cap)
        run = Run(
            run_id=_new_id("run"),
            role=role,
            initiator_id=initiator_id,
            goal_text=goal_text,
            conversation_id=conversation_id,
            started_at=now,
            budget=budget,
        )
        with self.store.write() as conn:
            conn.execute(
                sa.insert(runs).values(
                    run_id=run.run_id,
                    role=role,
                    initiator_id=initiator_id,
                    goal_text=goal_text,
                    conversation_id=conversation_id,
                    started_at=now.timestamp(),
                    status="running",
                    max_tokens=budget.max_tokens,
                    max_cost_micros=None
                    if budget.max_cost_usd is None
                    else to_micros(budget.max_cost_usd),
                    max_seconds=budget.max_seconds,
                    alert_cost_micros=(
                        None if budget.alert_cost_usd is None else to_micros(budget.alert_cost_usd)
                    ),
                    input_tokens=0,
                    output_tokens=0,
                    cost_micros=0,
                    reserved_tokens=0,
                    reserved_cost_micros=0,
                    alerted=False,
                )
            )
        self._append([("run", self._run_fields(run, "running", steps_count=0))])
        self.tracer.start_run(
            run_id=run.run_id, role=role, initiator_id=initiator_id, conversation_id=conversation_id
        )
        return run

    def get_run(self, run_id: str) -> Run:
        """Rebuild the handle of a run (in any process).

        Raises:
            NotFoundError: no such run.
        """
        with self.store.read() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).one_or_none()
        if row is None:
            raise NotFoundError(f"unknown run {run_id!r}")
        return Run(
            run_id=row.run_id,
            role=row.role,
            initiator_id=row.initiator_id,
            goal_text=row.goal_text,
            conversation_id=row.conversation_id,
            started_at=datetime.fromtimestamp(row.started_at, UTC),
            budget=RunBudget(
                max_tokens=row.max_tokens,
                max_cost_usd=None if row.max_cost_micros is None else row.max_cost_micros / 1e6,
                max_seconds=row.max_seconds,
                alert_cost_usd=None
                if row.alert_cost_micros is None
                else row.alert_cost_micros / 1e6,
            ),
        )

    def finish_run(
        self,
        run: Run,
        status: str = "completed",
        *,
        follow_up: bool | None = None,
        user_feedback: str | None = None,
    ) -> RunOutcome:
        """Close a run: write its final ``run`` record and its evaluated ``outcome``.

        Args:
            run: the run.
            status: completed, failed or aborted.
            follow_up: whether the user engaged again (the heuristic's engagement signal).
            user_feedback: free-text feedback to store with the outcome.

        Raises:
            InvalidInputError: an unknown status.
            ConflictError: the run is already finished, or ``completed`` with gates pending.
        """
        if status not in FINISHED_STATUSES:
            raise InvalidInputError(
                f"a run finishes as completed, failed or aborted, not {status!r}"
            )
        if status == "completed" and self.gates.pending_for_run(run.run_id):
            raise ConflictError(f"run {run.run_id} still has pending approval gates")
        with self.store.write() as conn:
            self.store.lock(conn, f"run:{run.run_id}")
            current = conn.execute(
                sa.select(runs.c.status).where(runs.c.run_id == run.run_id)
            ).scalar()
            if current is None:
                raise NotFoundError(f"unknown run {run.run_id!r}")
            if current in FINISHED_STATUSES:
                raise ConflictError(f"run {run.run_id} is already {current}")
            conn.execute(sa.update(runs).where(runs.c.run_id == run.run_id).values(status=status))
        now = self.clock.now()
        steps, gates = self._latest_of_run(run.run_id)
        totals = self.budgets.totals(run.run_id)
        run_fields = self._run_fields(
            run, status, steps_count=len(steps), totals=totals, completed_at=now
        )
        evaluation = self.scorer.score(
            RunView(
                run=run_fields,
                steps=tuple(steps),
                gates=tuple(gates),
                follow_up=follow_up,
                user_feedback=user_feedback,
            )
        )
        outcome = RunOutcome(
            outcome_id=_new_id("out"),
            run_id=run.run_id,
            status=status,
            quality_score=float(evaluation.quality_score),
            objective_met=evaluation.objective_met,
            follow_up_tasks=tuple(evaluation.follow_up_tasks),
            outcome_deltas=dict(evaluation.outcome_deltas),
        )
        self._append(
            [
                ("run", run_fields),
                (
                    "outcome",
                    {
                        "outcome_id": outcome.outcome_id,
                        "run_id": run.run_id,
                        "objective_met": outcome.objective_met,
                        "quality_score": outcome.quality_score,
                        "user_feedback": user_feedback,
                        "follow_up_tasks": list(outcome.follow_up_tasks),
                        "outcome_deltas": outcome.outcome_deltas,
                        "evaluated_at": format_ts(now),
                    },
                ),
            ]
        )
        self.tracer.end_run(
            run_id=run.run_id,
            status=status,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cost_usd=totals.cost_usd,
        )
        return outcome

    # ------------------------------------------------------------ execution

    def execute(
        self,
        run: Run,
        tool_name: str,
        args: Mapping[str, Any],
        *,
        requester_id: str | None = None,
        estimate: Usage | None = None,
    ) -> StepResult:
        """Run one governed call and record it.

        Args:
            run: the run the call belongs to.
            tool_name: the tool to call.
            args: its arguments (validated against the tool's schema before anything runs).
            requester_id: on whose behalf (rate limits count per requester); default the
                run's initiator.
            estimate: usage to reserve from the run's budget before the handler runs.

        Returns:
            The typed result: executed, pending_approval (with ``gate_id``), rejected,
            rate_limited, budget_exceeded or error, with the reason.

        Raises:
            LedgerError: the outcome could not be recorded (the handler did not run unless it
                is a read or suggest tool whose record failed after it ran).
        """
        step_id = _new_id("step")
        call = Call(
            run=run,
            tool_name=tool_name,
            args=args,
            step_id=step_id,
            requester_id=requester_id or run.initiator_id,
            idempotency_key=step_id,
            estimate=estimate,
        )
        return self._run_call(call)

    def _run_call(self, call: Call) -> StepResult:
        span = self.tracer.step_span(
            run_id=call.run.run_id,
            step_id=call.step_id,
            tool_name=call.tool_name,
            role=call.run.role,
            risk_level=self._risk_of(call.tool_name),
            gate_id=call.gate_id,
        )
        try:
            try:
                attempt = self._chain(call)
            except LedgerError as exc:
                # The control store is unreachable: nothing ran; record what the ledger allows.
                attempt = Attempt(outcome=StepOutcome.ERROR, reason=f"ledger_error: {exc.message}")
            result = self._record(attempt.call or call, attempt)
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            span.end()
            raise
        if result.gate_id:
            span.set_attribute("tailguard.gate_id", result.gate_id)
        span.set_attribute("tailguard.step_outcome", result.outcome.value)
        if attempt.usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", attempt.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", attempt.usage.output_tokens)
        if result.outcome is StepOutcome.ERROR:
            span.set_status(Status(StatusCode.ERROR, result.reason or "error"))
        span.end()
        return result

    def _risk_of(self, tool_name: str) -> str | None:
        return (
            self.registry.policy(tool_name).risk_level.value if tool_name in self.registry else None
        )

    # ------------------------------------------------------------- budgets

    def reserve(self, run: Run, estimate: Usage) -> Reservation:
        """Reserve budget for a model call (or anything else that spends tokens or money).

        Raises:
            BudgetExceededError: the reservation would pass a cap, or the wall time is up.
            ConflictError: the run is finished.
        """
        return self.budgets.reserve(
            run.run_id,
            tokens=estimate.total_tokens,
            cost_usd=estimate.cost_usd,
            now=self.clock.now(),
        )

    def settle(self, run: Run, reservation: Reservation, actual: Usage | None) -> RunTotals:
        """Reconcile a reservation with the actual usage (None releases it unused)."""
        totals = self.budgets.settle(reservation, actual)
        if totals.alert_due:
            self._write_alert(run, totals)
        return totals

    @contextmanager
    def model_call(self, run: Run, estimate: Usage) -> Iterator[ModelCall]:
        """Reserve ``estimate`` for the block, then reconcile with what it recorded.

        A block that raises releases the reservation unless it recorded usage first; a block
        that records nothing is charged its estimate.
        """
        slot = ModelCall(self.reserve(run, estimate))
        try:
            yield slot
        except BaseException:
            self.settle(run, slot.reservation, slot.actual)
            raise
        self.settle(run, slot.reservation, slot.actual or estimate)

    # --------------------------------------------------------------- gates

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
                PendingCall(**{**_pending_dict(call), "args": edited or call.args}),
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
                "value": _jsonable(result.value),
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

    # ------------------------------------------------------------ rollback

    def rollback(self, step_id: str, *, requested_by: str, reason: str | None = None) -> StepResult:
        """Undo an executed step with its policy's compensating tool; recorded as ``rolled_back``.

        Raises:
            NotFoundError: no such step.
            PolicyError: the tool has no rollback strategy (or its compensating tool is unknown).
            ConflictError: the step did not execute, or was already rolled back.
        """
        record = self.ledger.latest("step", step_id)
        if record is None:
            raise NotFoundError(f"unknown step {step_id!r}")
        fields = dict(record.fields)
        if fields["status"] == "rolled_back":
            raise ConflictError(f"step {step_id} was already rolled back")
        if fields["status"] not in ("executed", "approved"):
            raise ConflictError(f"step {step_id} is {fields['status']}; there is nothing to undo")
        tool_name = fields["tool_name"]
        policy = self.registry.policy(tool_name)
        compensator = policy.rollback_strategy
        if compensator is None:
            raise PolicyError(f"{tool_name} has no rollback strategy")
        if compensator not in self.registry:
            raise PolicyError(f"{tool_name}'s compensating tool {compensator!r} is not registered")
        with self.store.read() as conn:
            payload = conn.execute(
                sa.select(step_payloads).where(step_payloads.c.step_id == step_id)
            ).one_or_none()
        if payload is None:
            raise ConflictError(f"step {step_id} has no stored payload to roll back")
        try:
            with self.store.write() as conn:
                conn.execute(
                    sa.insert(rollbacks).values(
                        step_id=step_id, requested_by=requested_by, at=self.clock.now().timestamp()
                    )
                )
        except sa.exc.IntegrityError:
            raise ConflictError(f"step {step_id} is already being rolled back") from None
        original_args = json.loads(payload.args_json)
        schema_props = self.registry.tool(compensator).parameters.get("properties", {})
        comp_args = {k: v for k, v in original_args.items() if k in schema_props}
        run = self.get_run(fields["run_id"])
        call = Call(
            run=run,
            tool_name=compensator,
            args=comp_args,
            step_id=step_id,
            requester_id=requested_by,
            idempotency_key=f"rollback:{step_id}",
            compensates=Compensation(
                step_id=step_id,
                tool_name=tool_name,
                args=original_args,
                result=json.loads(payload.result_json) if payload.result_json else None,
            ),
        )
        attempt = self._compensate(call)
        detail = {
            "step_detail_id": step_id,
            "run_id": run.run_id,
            "phase": "rollback",
            "compensated_by": compensator,
            "requested_by": requested_by,
            "reason": reason if attempt.outcome is StepOutcome.EXECUTED else attempt.reason,
        }
        if attempt.outcome is not StepOutcome.EXECUTED:
            with self.store.write() as conn:  # let a later attempt try again
                conn.execute(sa.delete(rollbacks).where(rollbacks.c.step_id == step_id))
            self._append([("step_detail", detail)])
            return StepResult(
                outcome=attempt.outcome,
                run_id=run.run_id,
                step_id=step_id,
                tool_name=compensator,
                reason=attempt.reason,
                latency_ms=attempt.latency_ms,
            )
        step = {
            **{k: fields[k] for k in _STEP_FIELDS},
            "status": "rolled_back",
            "result_summary": attempt.summary or summarize(attempt.value),
            "latency_ms": attempt.latency_ms,
        }
        self._append([("step", step), ("step_detail", detail)])
        return StepResult(
            outcome=StepOutcome.EXECUTED,
            run_id=run.run_id,
            step_id=step_id,
            tool_name=compensator,
            value=attempt.value,
            latency_ms=attempt.latency_ms,
        )

    # ------------------------------------------------------------ recording

    def _record(self, call: Call, attempt: Attempt) -> StepResult:
        policy = call.policy
        result = StepResult(
            outcome=attempt.outcome,
            run_id=call.run.run_id,
            step_id=call.step_id,
            tool_name=call.tool_name,
            value=attempt.value if attempt.outcome is StepOutcome.EXECUTED else None,
            gate_id=attempt.gate.gate_id if attempt.gate else call.gate_id,
            reason=attempt.reason,
            retries=attempt.retries,
            latency_ms=attempt.latency_ms,
        )
        if attempt.outcome is StepOutcome.PENDING_APPROVAL:
            assert attempt.gate is not None
            gate = attempt.gate
            records: list[tuple[str, Mapping[str, Any]]] = [
                ("gate", self._gate_fields(gate, "pending", decided_by=None, decided_at=None)),
                (
                    "gate_detail",
                    {
                        "gate_detail_id": gate.gate_id,
                        "run_id": gate.run_id,
                        "requester_id": gate.requester_id,
                        "args_hash": args_hash(gate.args),
                        "audit_args": self._audit_args(gate.tool_name, gate.args),
                        "expires_at": format_ts(gate.expires_at) if gate.expires_at else None,
                    },
                ),
            ]
            if len(self.gates.pending_for_run(call.run.run_id)) == 1:
                records.append(("run", self._run_fields(call.run, "waiting_approval")))
            self._append(records)
            return result
        if attempt.outcome is StepOutcome.EXECUTED:
            # A resumed call is ``executed`` with its approval_gate_id; ``approved`` is the
            # step's state between the approval and the resumption.
            status = "executed"
            summary = attempt.summary or summarize(attempt.value)
            if policy is not None and policy.rollback_strategy is not None:
                with self.store.write() as conn:
                    conn.execute(
                        sa.insert(step_payloads).values(
                            step_id=call.step_id,
                            run_id=call.run.run_id,
                            tool_name=call.tool_name,
                            args_json=canonical_json(dict(call.args)),
                            result_json=json.dumps(_jsonable(attempt.value)),
                        )
                    )
        else:
            status = _STOPPED_STATUS[attempt.outcome]
            summary = "error" if status == "error" else (attempt.reason or status).split(":")[0]
        records = [
            ("step", self._step_fields(call, status, summary, attempt)),
            ("step_detail", self._step_detail(call, attempt, phase="final")),
        ]
        self._append(records)
        return result

    def _write_intent(self, call: Call) -> None:
        """Write-ahead evidence for side-effecting tools: no record, no side effect."""
        assert call.policy is not None
        if call.policy.risk_level.rank < RiskLevel.EXECUTE_LOW.rank:
            return
        try:
            self._append([("step_detail", self._step_detail(call, None, phase="intent"))])
        except TailguardError as exc:
            raise LedgerError(
                f"cannot record the intent of {call.tool_name}: {exc.message}"
            ) from exc

    def _write_alert(self, run: Run, totals: RunTotals) -> None:
        self._append(
            [
                (
                    "alert",
                    {
                        "alert_id": _new_id("alert"),
                        "run_id": run.run_id,
                        "metric": "run_cost_usd",
                        "value": totals.cost_usd,
                        "threshold": run.budget.alert_cost_usd,
                        "role": run.role,
                        "initiator_id": run.initiator_id,
                        "raised_at": format_ts(self.clock.now()),
                        "message": (
                            f"run {run.run_id} cost ${totals.cost_usd:.4f} passed the alert "
                            f"threshold ${run.budget.alert_cost_usd}"
                        ),
                    },
                )
            ]
        )

    def _append(self, records: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        try:
            self.ledger.append_many(records)
        except LedgerError:
            raise
        except TailguardError as exc:
            raise LedgerError(f"the ledger refused a record: {exc.message}") from exc
        except Exception as exc:  # a database failure inside the ledger
            raise LedgerError(f"the ledger could not be written: {exc}") from exc

    def _audit_args(self, tool_name: str, args: Mapping[str, Any]) -> dict[str, Any]:
        if tool_name not in self.registry:
            return {}
        fields = self.registry.policy(tool_name).audit_fields
        return {k: args[k] for k in fields if k in args}

    def _step_fields(
        self, call: Call, status: str, summary: str, attempt: Attempt
    ) -> dict[str, Any]:
        try:
            hashed: str | None = args_hash(call.args)
        except (TypeError, ValueError):
            hashed = None
        policy: Policy | None = call.policy
        return {
            "step_id": call.step_id,
            "run_id": call.run.run_id,
            "tool_name": call.tool_name,
            # An unknown tool is treated as the riskiest kind: fail closed in the evidence too.
            "risk_level": policy.risk_level.value if policy else RiskLevel.EXECUTE_HIGH.value,
            "args_hash": hashed,
            "result_summary": summary,
            "latency_ms": attempt.latency_ms,
            "retries": attempt.retries,
            "status": status,
            "approval_gate_id": call.gate_id,
        }

    def _step_detail(self, call: Call, attempt: Attempt | None, *, phase: str) -> dict[str, Any]:
        usage = attempt.usage if attempt is not None else None
        return {
            "step_detail_id": call.step_id,
            "run_id": call.run.run_id,
            "phase": phase,
            "tool_name": call.tool_name,
            "requester_id": call.requester_id,
            "idempotency_key": call.idempotency_key,
            "audit_args": self._audit_args(call.tool_name, call.args),
            "input_tokens": usage.input_tokens if usage else 0,
            "output_tokens": usage.output_tokens if usage else 0,
            "cost_usd": usage.cost_usd if usage else 0.0,
            "reason": attempt.reason if attempt is not None else None,
        }

    def _stopped_step_records(
        self, call: PendingCall, status: str, reason: str
    ) -> list[tuple[str, Mapping[str, Any]]]:
        policy_risk = call.risk_level
        return [
            (
                "step",
                {
                    "step_id": call.step_id,
                    "run_id": call.run_id,
                    "tool_name": call.tool_name,
                    "risk_level": policy_risk,
                    "args_hash": args_hash(call.args),
                    "result_summary": reason.split(":")[0],
                    "latency_ms": None,
                    "retries": 0,
                    "status": status,
                    "approval_gate_id": call.gate_id,
                },
            ),
            (
                "step_detail",
                {
                    "step_detail_id": call.step_id,
                    "run_id": call.run_id,
                    "phase": "final",
                    "tool_name": call.tool_name,
                    "requester_id": call.requester_id,
                    "idempotency_key": call.idempotency_key,
                    "audit_args": self._audit_args(call.tool_name, call.args),
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cost_usd": 0.0,
                    "reason": reason,
                },
            ),
        ]

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

    def _gate_fields(
        self,
        call: PendingCall,
        decision: str,
        *,
        decided_by: str | None,
        decided_at: datetime | None,
    ) -> dict[str, Any]:
        return {
            "gate_id": call.gate_id,
            "run_id": call.run_id,
            "step_id": call.step_id,
            "tool_name": call.tool_name,
            "reason": call.reason,
            "risk_level": call.risk_level,
            "presented_at": format_ts(call.presented_at),
            "decision": decision,
            "decided_by": decided_by,
            "decided_at": format_ts(decided_at) if decided_at else None,
        }

    def _run_fields(
        self,
        run: Run,
        status: str,
        *,
        steps_count: int | None = None,
        totals: RunTotals | None = None,
        completed_at: datetime | None = None,
    ) -> dict[str, Any]:
        totals = totals or self.budgets.totals(run.run_id)
        if steps_count is None:
            steps_count = len(self._latest_of_run(run.run_id)[0])
        max_seconds = run.budget.max_seconds
        return {
            "run_id": run.run_id,
            "conversation_id": run.conversation_id,
            "initiator_id": run.initiator_id,
            "role": run.role,
            "goal_text": run.goal_text,
            "status": status,
            "total_tokens": totals.total_tokens,
            "total_cost_usd": totals.cost_usd,
            "steps_count": steps_count,
            "started_at": format_ts(run.started_at),
            "completed_at": format_ts(completed_at) if completed_at else None,
            # The run's time budget (its SLA), when it has one.
            "sla_ms": max_seconds * 1000.0 if max_seconds is not None else None,
        }

    def _latest_of_run(self, run_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        steps: dict[str, dict[str, Any]] = {}
        gates: dict[str, dict[str, Any]] = {}
        try:
            for record in self.ledger.records(run_id=run_id):
                if record.kind == "step":
                    steps[record.record_id] = dict(record.fields)
                elif record.kind == "gate":
                    gates[record.record_id] = dict(record.fields)
        except TailguardError:
            raise
        except Exception as exc:
            raise LedgerError(f"the ledger could not be read: {exc}") from exc
        return list(steps.values()), list(gates.values())


_STEP_FIELDS = (
    "step_id",
    "run_id",
    "tool_name",
    "risk_level",
    "args_hash",
    "result_summary",
    "latency_ms",
    "retries",
    "status",
    "approval_gate_id",
)


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data (objects that JSON cannot hold become their text)."""
    return json.loads(json.dumps(value, default=str))


def _pending_dict(call: PendingCall) -> dict[str, Any]:
    return {f: getattr(call, f) for f in PendingCall.__dataclass_fields__}
