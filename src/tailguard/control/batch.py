"""Governed execution in batches: many runs' calls, gates and records in a few transactions.

The hourly tick of the area agents governs hundreds of calls at once; one by one each costs
about twenty small transactions. The methods here apply the same checks, build the same ledger
records with the same functions, and write them set-wise:

* :meth:`BatchMixin.execute_batch` opens runs and takes each call through validation, policy,
  rate limit, budget and approval gate (:mod:`.wrappers`' functions), then writes in ONE
  transaction the runs, the gates, the stopped steps and the write-ahead intent of every call
  about to run. Only after that commit do the handlers run (no record, no side effect); a
  second transaction records their results and closes the runs that wait for nothing.
* :meth:`BatchMixin.resume_batch` resumes approved gates: one transaction checks them and
  claims them (the claim row is the exactly-once guarantee of :meth:`resume`) with their
  intents, the handlers run, one transaction records results and stores the claims' results.
* :meth:`BatchMixin.finish_runs` closes many runs in one transaction.

Each run's own records keep the order the one-call path gives them; records of different runs
interleave differently. A run's budget is checked before its calls run and again, in memory,
before each handler (usage reported by an earlier call of the batch counts), so a batch stops
at a cap where one-by-one calls would; such a stopped call has an intent record followed by a
``skipped`` step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from tailguard.clock import format_ts
from tailguard.control.batch_parts import (
    ZERO_TOTALS,
    BatchItem,
    Records,
    RunBatchResult,
    RunRequest,
    RunUsage,
    budget_refusal,
    claim_all,
    claim_json,
    gate_row,
    replayed_result,
    rows_by_id,
    stored_claims,
    usage_counts,
)
from tailguard.control.budget import (
    FINISHED_STATUSES,
    RunBudget,
    RunTotals,
    check_open_row,
    totals_of_row,
)
from tailguard.control.evaluator import Scorer
from tailguard.control.gates import Approvers, pending_of_row
from tailguard.control.policy import RiskLevel
from tailguard.control.ratelimit import RateLimiter, SqlRateLimiter
from tailguard.control.records import RunRecorder, new_id, run_of_row, run_row
from tailguard.control.results import Run, RunOutcome, StepOutcome, StepResult
from tailguard.control.store import claims, gates, runs, step_payloads
from tailguard.control.tracing import RunTracer
from tailguard.control.wrappers import (
    Attempt,
    Call,
    InvokeHandler,
    new_pending_call,
    policy_refusal,
    validate_call,
)
from tailguard.errors import (
    BudgetExceededError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TailguardError,
)
from tailguard.faults import crash_point


class BatchMixin(RunRecorder):
    """The batch methods of ``ControlPlane`` (see the module docstring)."""

    approvers: Approvers | None
    rate_limiter: RateLimiter
    scorer: Scorer
    tracer: RunTracer
    daily_run_cap: int | None
    default_budget: RunBudget
    _max_retries: int

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
        batch: list[tuple[Run, list[BatchItem]]] = []
        with self._batch_tx() as tx:
            conn = tx.conn
            if self.daily_run_cap is not None:
                for req in requests:
                    self.budgets.count_daily_run_in(
                        conn, req.initiator_id, now=now, cap=self.daily_run_cap
                    )
            run_rows: list[dict[str, Any]] = []
            gate_rows: list[dict[str, Any]] = []
            for req in requests:
                run = Run(
                    run_id=new_id("run"),
                    role=req.role,
                    initiator_id=req.initiator_id,
                    goal_text=req.goal_text,
                    conversation_id=None,
                    started_at=now,
                    budget=req.budget or self.default_budget,
                )
                run_rows.append(run_row(run))
                records: Records = [
                    ("run", self._run_fields(run, "running", steps_count=0, totals=ZERO_TOTALS))
                ]
                items: list[BatchItem] = []
                steps = 0
                waiting = False
                for tool_name, args in req.calls:
                    step_id = new_id("step")
                    item = BatchItem(
                        call=Call(
                            run=run,
                            tool_name=tool_name,
                            args=args,
                            step_id=step_id,
                            requester_id=run.initiator_id,
                            idempotency_key=step_id,
                        )
                    )
                    items.append(item)
                    self._check_new(conn, item, now)
                    attempt = item.attempt
                    if attempt is None:  # passed every check: its intent goes first
                        records += self._intent_records(item.call)
                    elif attempt.outcome is StepOutcome.PENDING_APPROVAL:
                        assert attempt.gate is not None
                        gate_rows.append(gate_row(attempt.gate))
                        records += self._pending_gate_records(attempt.gate)
                        if not waiting:
                            waiting = True
                            records.append(
                                (
                                    "run",
                                    self._run_fields(
                                        run,
                                        "waiting_approval",
                                        steps_count=steps,
                                        totals=ZERO_TOTALS,
                                    ),
                                )
                            )
                    else:
                        records += self._final_records(item.call, attempt)
                        item.recorded = True
                        steps += 1
                tx.append_many(records)
                batch.append((run, items))
            if run_rows:
                conn.execute(sa.insert(runs), run_rows)
            if gate_rows:
                conn.execute(sa.insert(gates), gate_rows)
        for run, _ in batch:
            self.tracer.start_run(
                run_id=run.run_id,
                role=run.role,
                initiator_id=run.initiator_id,
                conversation_id=None,
            )
        self._run_handlers([item for _, items in batch for item in items], fresh=True)
        closing = [
            run
            for run, items in batch
            if finish
            and not any(
                i.attempt is not None and i.attempt.outcome is StepOutcome.PENDING_APPROVAL
                for i in items
            )
        ]
        finished = self._record_results(
            [item for _, items in batch for item in items], close=closing
        )
        return [
            RunBatchResult(
                run=run,
                results=tuple(self._result_of(i) for i in items),
                finished=run.run_id in finished,
            )
            for run, items in batch
        ]

    def _check_new(self, conn: sa.Connection, item: BatchItem, now: datetime) -> None:
        """The checks of the governed chain before the handler, for a call of a new run."""
        checked = validate_call(self.registry, item.call)
        if isinstance(checked, Attempt):
            item.attempt = checked
            return
        item.call = checked
        refused = policy_refusal(checked)
        if refused is not None:
            item.attempt = refused
            return
        policy = checked.policy
        assert policy is not None
        if policy.rate_limit is not None:
            if isinstance(self.rate_limiter, SqlRateLimiter):
                decision = self.rate_limiter.acquire_in(
                    conn, checked.requester_id, checked.tool_name, limit=policy.rate_limit, now=now
                )
            else:
                decision = self.rate_limiter.acquire(
                    checked.requester_id, checked.tool_name, limit=policy.rate_limit, now=now
                )
            if not decision.allowed:
                item.attempt = Attempt(
                    outcome=StepOutcome.RATE_LIMITED,
                    reason=(
                        f"rate_limited: {decision.used}/{policy.rate_limit} calls per minute "
                        f"used; retry in {decision.retry_after_s:.1f}s"
                    ),
                )
                return
        # The run was opened in this batch: nothing used, its clock starts now; the budget is
        # checked against usage again before each handler runs (_run_handlers).
        if policy.requires_approval:
            if self.approvers is None:
                item.attempt = Attempt(
                    outcome=StepOutcome.REJECTED,
                    reason="no_approver: no approver is configured, so gated calls are denied",
                )
                return
            pending = new_pending_call(checked, now)
            item.attempt = Attempt(
                outcome=StepOutcome.PENDING_APPROVAL, reason=pending.reason, gate=pending
            )

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
            won = claim_all(conn, [r.gate_id for r in approved], now)
            stored = stored_claims(conn, [r.gate_id for r in approved if r.gate_id not in won])
            run_rows = rows_by_id(conn, {r.run_id for r in approved if r.gate_id in won})
            records: Records = []
            for row in approved:
                if row.gate_id not in won:
                    out[row.gate_id] = replayed_result(row, stored.get(row.gate_id))
                    continue
                item = self._resumed_item(row, run_rows[row.run_id], now)
                todo.append(item)
                if item.attempt is None:
                    records += self._intent_records(item.call)
            tx.append_many(records)
        self._run_handlers(todo, fresh=False)
        self._record_results(todo, close=[])
        for item in todo:
            assert item.call.gate_id is not None
            out[item.call.gate_id] = self._result_of(item)
        return out

    def _resumed_item(self, row: Any, run: Any, now: datetime) -> BatchItem:
        call = pending_of_row(row)
        item = BatchItem(
            call=Call(
                run=run_of_row(run),
                tool_name=call.tool_name,
                args=call.args,
                step_id=call.step_id,
                requester_id=call.requester_id,
                idempotency_key=call.idempotency_key,
                gate_id=call.gate_id,
            )
        )
        checked = validate_call(self.registry, item.call)
        if isinstance(checked, Attempt):
            item.attempt = checked
            return item
        item.call = checked
        item.base = (int(run.input_tokens + run.output_tokens), int(run.cost_micros))
        item.attempt = policy_refusal(checked)
        if item.attempt is not None:
            return item
        try:
            # Time spent waiting at the gate does not count against the wall-time cap.
            check_open_row(run, now, wall_time=False)
        except BudgetExceededError as exc:
            item.attempt = Attempt(
                outcome=StepOutcome.BUDGET_EXCEEDED, reason=f"budget_exceeded: {exc.message}"
            )
        except ConflictError as exc:
            item.attempt = Attempt(
                outcome=StepOutcome.REJECTED, reason=f"run_closed: {exc.message}"
            )
        return item

    # -------------------------------------------------------------- finish

    def finish_runs(
        self, to_close: Sequence[Run], status: str = "completed"
    ) -> dict[str, RunOutcome | TailguardError]:
        """Close runs in one transaction, as :meth:`finish_run` does one.

        Returns, per run id, its evaluated outcome or the error :meth:`finish_run` would raise
        (ConflictError: already finished, or ``completed`` with gates pending; NotFoundError).
        """
        if status not in FINISHED_STATUSES:
            raise InvalidInputError(
                f"a run finishes as completed, failed or aborted, not {status!r}"
            )
        out: dict[str, RunOutcome | TailguardError] = {}
        with self._batch_tx() as tx:
            closed = self._close_runs(tx, list(to_close), status, out)
        for run_id, outcome, totals in closed:
            out[run_id] = outcome
            self.tracer.end_run(
                run_id=run_id,
                status=status,
                input_tokens=totals.input_tokens,
                output_tokens=totals.output_tokens,
                cost_usd=totals.cost_usd,
            )
        return {r.run_id: out[r.run_id] for r in to_close}

    def _close_runs(
        self,
        tx: Any,
        to_close: list[Run],
        status: str,
        errors: dict[str, RunOutcome | TailguardError],
        extra: Mapping[str, Records] | None = None,
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
                        "user_feedback": None,
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

    def _run_handlers(self, items: list[BatchItem], *, fresh: bool) -> None:
        """Phase 2: run every call that passed its checks, after its intent was committed."""
        invoke = InvokeHandler(clock=self.clock, max_retries=self._max_retries)
        usage: dict[str, RunUsage] = {}
        for item in items:
            if item.attempt is not None:
                continue
            call = item.call
            used = usage.setdefault(call.run.run_id, RunUsage(*item.base))
            refused = budget_refusal(call, used, self.clock.now(), wall_time=fresh)
            if refused is not None:
                item.attempt = refused
                continue
            attempt = invoke(call)
            if attempt.outcome is StepOutcome.EXECUTED and attempt.usage is not None:
                used.tokens += attempt.usage.total_tokens
                used.cost_micros += round(attempt.usage.cost_usd * 1_000_000)
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
                if attempt.outcome is StepOutcome.PENDING_APPROVAL:
                    continue
                call = item.call
                records = by_run.setdefault(call.run.run_id, [])
                if usage_counts(attempt, call.run):
                    assert attempt.usage is not None
                    totals = self.budgets.record_usage_in(tx.conn, call.run.run_id, attempt.usage)
                    if totals.alert_due:
                        records.append(self._alert_record(call.run, totals))
                payload = self._payload_row(call, attempt)
                if payload is not None:
                    payloads.append(payload)
                if not item.recorded:
                    records += self._final_records(call, attempt)
                if call.gate_id is not None:
                    result = self._step_result(call, attempt)
                    claim_rows.append(
                        {
                            "gid": call.gate_id,
                            "result_json": claim_json(result),
                        }
                    )
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
            self.tracer.end_run(
                run_id=run_id,
                status="completed",
                input_tokens=totals.input_tokens,
                output_tokens=totals.output_tokens,
                cost_usd=totals.cost_usd,
            )
        for item in items:
            self._trace_step(item)
        return {run_id for run_id, _, _ in closed}

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
        )
        gate_id = attempt.gate.gate_id if attempt.gate else call.gate_id
        if gate_id:
            span.set_attribute("tailguard.gate_id", gate_id)
        span.set_attribute("tailguard.step_outcome", attempt.outcome.value)
        span.end()

    def _result_of(self, item: BatchItem) -> StepResult:
        assert item.attempt is not None
        return self._step_result(item.call, item.attempt)


__all__ = ["BatchMixin", "RunBatchResult", "RunRequest"]
