"""The one execute path: every governed call, alone or in a batch, in a few transactions.

``ControlPlane.execute`` is a batch of one call; the hourly tick of the area agents governs
hundreds of calls of new runs at once (:meth:`Executor.execute_batch`); approved calls are
resumed in batches too (:meth:`Executor.resume_batch`, ``resume`` is a batch of one). All
of them go through :meth:`Executor.govern`:

1. ONE transaction opens the new runs, takes every call down the checks of :mod:`.chain`
   (validation, policy, rate limit, budget, approval gate) and writes the gates, the stopped
   steps and the write-ahead intent of every call about to run.
2. Only after that commit do the handlers run (no record, no side effect).
3. A second transaction settles usage and reservations, stores payloads and claim results,
   records the results and closes the runs that wait for nothing (with ``finish``).

Runs close the same way alone or many at once (:meth:`Executor.finish_runs`). Each run's
own records keep the order one-by-one calls give them; records of different runs interleave
differently. A run's budget is checked when its calls are admitted and again, in memory, before
each handler (usage reported by an earlier call of the batch counts), so a batch stops at a cap
where one-by-one calls would; such a stopped call has an intent record followed by a
``skipped`` step.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from opentelemetry.trace import Status, StatusCode

from tailguard.clock import format_ts
from tailguard.control.batch_parts import (
    ZERO_TOTALS,
    BatchItem,
    Records,
    RunBatchResult,
    RunRequest,
    claim_all,
    claim_json,
    gate_row,
    replayed_result,
    rows_by_id,
    stored_claims,
    usage_counts,
)
from tailguard.control.budget import FINISHED_STATUSES, RunBudget, RunTotals, totals_of_row
from tailguard.control.chain import Attempt, Call, Check, Invoke, run_checks
from tailguard.control.gates import pending_of_row
from tailguard.control.policy import RiskLevel
from tailguard.control.records import PlaneParts, RunRecorder, new_id, run_of_row, run_row
from tailguard.control.results import Run, RunOutcome, StepOutcome, StepResult
from tailguard.control.store import claims, gates, runs, step_payloads
from tailguard.control.tools import Usage
from tailguard.control.tracing import RunTracer
from tailguard.errors import (
    ConflictError,
    InvalidInputError,
    LedgerError,
    NotFoundError,
    TailguardError,
)
from tailguard.faults import crash_point


class Executor(RunRecorder):
    """The one path of governed calls, and the opening and closing of runs (see the module).

    Args:
        parts: what the plane's parts share.
        checks: the governance steps before a handler (:func:`.chain.governed_checks`).
        invoke: the handler step.
        tracer: OpenTelemetry spans of runs and steps.
        daily_run_cap: runs per initiator per UTC day; None means unlimited.
        default_budget: the budget of runs opened without one.
    """

    def __init__(
        self,
        parts: PlaneParts,
        *,
        checks: Sequence[Check],
        invoke: Invoke,
        tracer: RunTracer,
        daily_run_cap: int | None,
        default_budget: RunBudget,
    ) -> None:
        super().__init__(parts)
        self._checks = tuple(checks)
        self._invoke = invoke
        self.tracer = tracer
        self.daily_run_cap = daily_run_cap
        self.default_budget = default_budget

    # ------------------------------------------------------------- execute

    def execute_batch(
        self, requests: Sequence[RunRequest], *, finish: bool = True
    ) -> list[RunBatchResult]:
        """Open the runs and govern their calls (see the module docstring).

        Args:
            requests: the runs, each with its calls.
            finish: close each run whose calls wait at no gate as ``completed``.

        Raises:
            InvalidInputError: a request without role or initiator.
            BudgetExceededError: an initiator reached the daily run cap (nothing is written).
            LedgerError: the batch could not be recorded (before the commit of the first
                transaction, nothing ran and nothing is written).
        """
        for req in requests:
            if not req.role or not req.initiator_id:
                raise InvalidInputError("a run needs a role and an initiator_id")
        now = self.clock.now()
        opened: list[tuple[Run, list[Call]]] = []
        for req in requests:
            run = Run(
                run_id=new_id("run"),
                role=req.role,
                initiator_id=req.initiator_id,
                goal_text=req.goal_text,
                conversation_id=None,
                started_at=now,
                budget=req.budget or self.default_budget,
                area_id=req.area_id,
                hour=req.hour,
            )
            calls = []
            for tool_name, args in req.calls:
                step_id = new_id("step")
                calls.append(
                    Call(
                        run=run,
                        tool_name=tool_name,
                        args=args,
                        step_id=step_id,
                        requester_id=run.initiator_id,
                        idempotency_key=step_id,
                    )
                )
            opened.append((run, calls))
        items, finished = self.govern(
            [call for _, calls in opened for call in calls],
            new_runs=[run for run, _ in opened],
            finish=finish,
        )
        out = []
        at = 0
        for run, calls in opened:
            mine = items[at : at + len(calls)]
            at += len(calls)
            out.append(
                RunBatchResult(
                    run=run,
                    results=tuple(self.result_of(i) for i in mine),
                    finished=run.run_id in finished,
                )
            )
        return out

    def open_run(self, run: Run) -> None:
        """Store a run opened on its own (``ControlPlane.start_run``) and write its record.

        Raises:
            BudgetExceededError: the initiator reached the daily run cap.
            LedgerError: the run could not be recorded.
        """
        self.budgets.count_daily_run(run.initiator_id, now=run.started_at, cap=self.daily_run_cap)
        with self.store.write() as conn:
            conn.execute(sa.insert(runs).values(**run_row(run)))
        self._append([("run", self._run_fields(run, "running", steps_count=0))])
        self.tracer.start_run(
            run_id=run.run_id,
            role=run.role,
            initiator_id=run.initiator_id,
            conversation_id=run.conversation_id,
        )

    def govern(
        self, calls: Sequence[Call], *, new_runs: Sequence[Run] = (), finish: bool = False
    ) -> tuple[list[BatchItem], set[str]]:
        """The three phases for calls of runs opened here (``new_runs``) or already open
        (``ControlPlane.execute`` is one call of an open run).

        Returns the calls' items (in order, each with its attempt) and the runs closed.
        """
        items = [BatchItem(call=call) for call in calls]
        now = self.clock.now()
        try:
            with self._batch_tx() as tx:
                if new_runs:
                    self._open_runs(tx, new_runs, now)
                self._admit(tx, items, opened={r.run_id for r in new_runs})
        except LedgerError as exc:
            if new_runs:
                raise
            # The control store is unreachable: nothing ran; record what the ledger allows.
            failed = Attempt(outcome=StepOutcome.ERROR, reason=f"ledger_error: {exc.message}")
            for item in items:
                item.attempt = failed
            self._append([r for item in items for r in self._final_records(item.call, failed)])
            for item in items:
                self._trace_step(item)
            return items, set()
        for run in new_runs:
            self.tracer.start_run(
                run_id=run.run_id,
                role=run.role,
                initiator_id=run.initiator_id,
                conversation_id=run.conversation_id,
            )
        self._run_handlers(items)
        waiting = {
            i.call.run.run_id
            for i in items
            if i.attempt is not None and i.attempt.outcome is StepOutcome.PENDING_APPROVAL
        }
        closing = [r for r in new_runs if finish and r.run_id not in waiting]
        finished = self._record_results(items, close=closing)
        return items, finished

    def _open_runs(self, tx: Any, new_runs: Sequence[Run], now: datetime) -> None:
        """Count the runs against the daily caps, store them and write their first records."""
        conn = tx.conn
        if self.daily_run_cap is not None:
            for run in new_runs:
                self.budgets.count_daily_run_in(
                    conn, run.initiator_id, now=now, cap=self.daily_run_cap
                )
        conn.execute(sa.insert(runs), [run_row(run) for run in new_runs])
        tx.append_many(
            [
                ("run", self._run_fields(run, "running", steps_count=0, totals=ZERO_TOTALS))
                for run in new_runs
            ]
        )

    def _admit(self, tx: Any, items: Sequence[BatchItem], *, opened: set[str]) -> None:
        """Phase 1: the checks of :mod:`.chain`; gates, stopped steps and intents recorded."""
        conn = tx.conn
        calls, stopped = run_checks(self._checks, [item.call for item in items], conn)
        gated = {
            c.run.run_id
            for c, a in zip(calls, stopped, strict=True)
            if a is not None and a.outcome is StepOutcome.PENDING_APPROVAL
        }
        earlier = [r for r in gated if r not in opened]
        # A run already open and waiting at a gate says so once, when its first gate opened.
        waiting = self.gates.pending_runs_in(conn, earlier) if earlier else set()
        prior_steps = tx.step_counts(earlier) if earlier else {}
        prior_rows = rows_by_id(conn, set(earlier)) if earlier else {}
        steps: Counter[str] = Counter()
        records: Records = []
        gate_rows: list[dict[str, Any]] = []
        for item, call, attempt in zip(items, calls, stopped, strict=True):
            item.call = call
            item.attempt = attempt
            run = call.run
            if attempt is None:  # passed every check: its intent goes first
                records += self._intent_records(call)
            elif attempt.outcome is StepOutcome.PENDING_APPROVAL:
                assert attempt.gate is not None
                gate_rows.append(gate_row(attempt.gate))
                records += self._pending_gate_records(attempt.gate)
                if run.run_id not in waiting:
                    waiting.add(run.run_id)
                    row = prior_rows.get(run.run_id)
                    totals = ZERO_TOTALS if row is None else totals_of_row(row)
                    count = prior_steps.get(run.run_id, 0) + steps[run.run_id]
                    records.append(
                        (
                            "run",
                            self._run_fields(
                                run, "waiting_approval", steps_count=count, totals=totals
                            ),
                        )
                    )
            else:
                records += self._final_records(call, attempt)
                item.recorded = True
                steps[run.run_id] += 1
        tx.append_many(records)
        if gate_rows:
            conn.execute(sa.insert(gates), gate_rows)

    # -------------------------------------------------------------- resume

    def resume_batch(self, gate_ids: Sequence[str]) -> dict[str, StepResult | TailguardError]:
        """Run approved calls, each exactly once across all processes (see :meth:`resume`).

        Returns, per gate, its result (``replayed=True`` for a call resumed earlier) or the
        error :meth:`resume` would raise: NotFoundError (no such gate, or its tool is no longer
        registered: the gate is left unclaimed), ConflictError (pending, rejected, timed out,
        or being resumed elsewhere).
        """
        crash_point("approval_committed")
        ids = list(dict.fromkeys(gate_ids))
        out: dict[str, StepResult | TailguardError] = {}
        todo: list[BatchItem] = []
        now = self.clock.now()
        with self._batch_tx() as tx:
            conn = tx.conn
            rows = self.gates.rows_in(conn, ids)
            approved = []
            for gate_id in ids:
                row = rows.get(gate_id)
                if row is None:
                    out[gate_id] = NotFoundError(f"unknown approval gate {gate_id!r}")
                elif row.decision == "pending":
                    out[gate_id] = ConflictError(f"gate {gate_id} is still pending")
                elif row.decision != "approved":
                    out[gate_id] = ConflictError(
                        f"gate {gate_id} is {row.decision}; the call never runs"
                    )
                elif row.tool_name not in self.registry:
                    out[gate_id] = NotFoundError(
                        f"gate {gate_id}: tool {row.tool_name!r} is not registered; the gate "
                        "stays approved and unclaimed"
                    )
                else:
                    approved.append(row)
            # The claim row is the exactly-once guarantee: the gates claimed here run here.
            won = claim_all(conn, [r.gate_id for r in approved], now)
            stored = stored_claims(conn, [r.gate_id for r in approved if r.gate_id not in won])
            run_rows = rows_by_id(conn, {r.run_id for r in approved if r.gate_id in won})
            for row in approved:
                if row.gate_id not in won:
                    out[row.gate_id] = replayed_result(row, stored.get(row.gate_id))
                    continue
                pending = pending_of_row(row)
                todo.append(
                    BatchItem(
                        call=Call(
                            run=run_of_row(run_rows[row.run_id]),
                            tool_name=pending.tool_name,
                            args=pending.args,
                            step_id=pending.step_id,
                            requester_id=pending.requester_id,
                            idempotency_key=pending.idempotency_key,
                            gate_id=pending.gate_id,
                        )
                    )
                )
            if todo:
                self._admit(tx, todo, opened=set())
        self._run_handlers(todo)
        self._record_results(todo, close=[])
        for item in todo:
            assert item.call.gate_id is not None
            out[item.call.gate_id] = self.result_of(item)
        return out

    # -------------------------------------------------------------- finish

    def finish_runs(
        self, to_close: Sequence[Run], status: str = "completed"
    ) -> dict[str, RunOutcome | TailguardError]:
        """Close runs in one transaction, as :meth:`finish_run` does one.

        Returns, per run id, its evaluated outcome or the error :meth:`finish_run` would raise
        (ConflictError: already finished, or ``completed`` with gates pending; NotFoundError).
        """
        return self.finish(to_close, status)

    def finish(
        self,
        to_close: Sequence[Run],
        status: str,
        *,
        follow_up: bool | None = None,
        user_feedback: str | None = None,
    ) -> dict[str, RunOutcome | TailguardError]:
        """:meth:`finish_runs` with the engagement signal and feedback of ``finish_run``."""
        if status not in FINISHED_STATUSES:
            raise InvalidInputError(
                f"a run finishes as completed, failed or aborted, not {status!r}"
            )
        out: dict[str, RunOutcome | TailguardError] = {}
        with self._batch_tx() as tx:
            closed = self._close_runs(
                tx, list(to_close), status, out, follow_up=follow_up, user_feedback=user_feedback
            )
        for run_id, outcome, totals in closed:
            out[run_id] = outcome
            self._trace_end(run_id, status, totals)
        return {r.run_id: out[r.run_id] for r in to_close}

    def _close_runs(
        self,
        tx: Any,
        to_close: list[Run],
        status: str,
        errors: dict[str, RunOutcome | TailguardError],
        extra: Mapping[str, Records] | None = None,
        *,
        follow_up: bool | None = None,
        user_feedback: str | None = None,
    ) -> list[tuple[str, RunOutcome, RunTotals]]:
        """Close runs inside ``tx``; ``extra`` holds records of this batch not flushed yet."""
        if not to_close:
            return []
        conn = tx.conn
        ids = [r.run_id for r in to_close]
        rows = rows_by_id(conn, set(ids), lock=True)
        waiting = self.gates.pending_runs_in(conn, ids) if status == "completed" else set()
        ok: list[Run] = []
        for run in to_close:
            row = rows.get(run.run_id)
            if row is None:
                errors[run.run_id] = NotFoundError(f"unknown run {run.run_id!r}")
            elif run.run_id in waiting:
                errors[run.run_id] = ConflictError(
                    f"run {run.run_id} still has pending approval gates"
                )
            elif row.status in FINISHED_STATUSES:
                errors[run.run_id] = ConflictError(f"run {run.run_id} is already {row.status}")
            else:
                ok.append(run)
        if not ok:
            return []
        conn.execute(
            sa.update(runs).where(runs.c.run_id == sa.bindparam("rid")).values(status=status),
            [{"rid": r.run_id} for r in ok],
        )
        latest = tx.latest_fields([r.run_id for r in ok], ("step", "gate"))
        now = self.clock.now()
        records: Records = []
        closed = []
        for run in ok:
            seen = latest.get(run.run_id, {})
            steps = dict(seen.get("step", {}))
            gates_ = dict(seen.get("gate", {}))
            for kind, fields in (extra or {}).get(run.run_id, []):
                if kind == "step":
                    steps[fields["step_id"]] = dict(fields)
                elif kind == "gate":
                    gates_[fields["gate_id"]] = dict(fields)
            totals = totals_of_row(rows[run.run_id])
            run_fields, outcome = self._closing(
                run,
                status,
                list(steps.values()),
                list(gates_.values()),
                totals=totals,
                now=now,
                follow_up=follow_up,
                user_feedback=user_feedback,
            )
            records.append(("run", run_fields))
            records.append(
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
                )
            )
            closed.append((run.run_id, outcome, totals))
        tx.append_many(records)
        return closed

    # -------------------------------------------------------------- shared

    def _intent_records(self, call: Call) -> Records:
        """Write-ahead evidence of a side-effecting call (none for read and suggest tools)."""
        assert call.policy is not None
        if call.policy.risk_level.rank < RiskLevel.EXECUTE_LOW.rank:
            return []
        return [("step_detail", self._step_detail(call, None, phase="intent"))]

    def _run_handlers(self, items: list[BatchItem]) -> None:
        """Phase 2: run every call that passed its checks, after its intent was committed."""
        admitted = [item for item in items if item.attempt is None]
        if not admitted:
            return
        try:
            attempts = self._invoke([item.call for item in admitted])
        except BaseException:
            # Nothing will settle the reservations of this batch: release them.
            with contextlib.suppress(TailguardError, sa.exc.SQLAlchemyError):
                for item in admitted:
                    if item.call.reservation is not None:
                        self.budgets.settle(item.call.reservation, None)
            raise
        for item, attempt in zip(admitted, attempts, strict=True):
            item.attempt = attempt

    def _record_results(self, items: list[BatchItem], *, close: list[Run]) -> set[str]:
        """Phase 3: usage, payloads, final records and claim results; close ``close``."""
        payloads: list[dict[str, Any]] = []
        claim_rows: list[dict[str, Any]] = []
        by_run: dict[str, Records] = {}
        closed: list[tuple[str, RunOutcome, RunTotals]] = []
        with self._batch_tx() as tx:
            for item in items:
                attempt = item.attempt
                assert attempt is not None
                call = item.call
                executed = attempt.outcome is StepOutcome.EXECUTED
                records = by_run.setdefault(call.run.run_id, [])
                totals: RunTotals | None = None
                if call.reservation is not None:
                    # The estimate gives way to the actual usage (released if nothing ran).
                    actual = (attempt.usage or Usage()) if executed else None
                    totals = self.budgets.settle_in(tx.conn, call.reservation, actual)
                elif usage_counts(attempt, call.run):
                    assert attempt.usage is not None
                    totals = self.budgets.record_usage_in(tx.conn, call.run.run_id, attempt.usage)
                if totals is not None and totals.alert_due:
                    records.append(self._alert_record(call.run, totals))
                if attempt.outcome is StepOutcome.PENDING_APPROVAL:
                    continue
                payload = self._payload_row(call, attempt)
                if payload is not None:
                    payloads.append(payload)
                if not item.recorded:
                    records += self._final_records(call, attempt)
                if call.gate_id is not None:
                    result = self._step_result(call, attempt)
                    claim_rows.append({"gid": call.gate_id, "result_json": claim_json(result)})
            for records in by_run.values():
                tx.append_many(records)
            if payloads:
                tx.conn.execute(sa.insert(step_payloads), payloads)
            if claim_rows:
                tx.conn.execute(
                    sa.update(claims)
                    .where(claims.c.gate_id == sa.bindparam("gid"))
                    .values(state="done", result_json=sa.bindparam("result_json")),
                    claim_rows,
                )
            errors: dict[str, RunOutcome | TailguardError] = {}
            closed = self._close_runs(tx, close, "completed", errors, extra=by_run)
        for run_id, _outcome, totals in closed:
            self._trace_end(run_id, "completed", totals)
        for item in items:
            self._trace_step(item)
        return {run_id for run_id, _, _ in closed}

    def _trace_end(self, run_id: str, status: str, totals: RunTotals) -> None:
        self.tracer.end_run(
            run_id=run_id,
            status=status,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cost_usd=totals.cost_usd,
        )

    def _trace_step(self, item: BatchItem) -> None:
        attempt = item.attempt
        assert attempt is not None
        call = item.call
        span = self.tracer.step_span(
            run_id=call.run.run_id,
            step_id=call.step_id,
            tool_name=call.tool_name,
            role=call.run.role,
            risk_level=call.policy.risk_level.value if call.policy else None,
            gate_id=call.gate_id,
            # The handler's own time when it ran (the span is written after the commit).
            start_time=attempt.started_ns,
        )
        gate_id = attempt.gate.gate_id if attempt.gate else call.gate_id
        if gate_id:
            span.set_attribute("tailguard.gate_id", gate_id)
        span.set_attribute("tailguard.step_outcome", attempt.outcome.value)
        if attempt.usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", attempt.usage.input_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", attempt.usage.output_tokens)
        if attempt.outcome is StepOutcome.ERROR:
            span.set_status(Status(StatusCode.ERROR, attempt.reason or "error"))
        span.end(end_time=attempt.ended_ns)

    def result_of(self, item: BatchItem) -> StepResult:
        assert item.attempt is not None
        return self._step_result(item.call, item.attempt)


__all__ = ["Executor", "RunBatchResult", "RunRequest"]
