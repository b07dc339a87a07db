"""The control plane: the one path every governed call takes, and the evidence it leaves.

Area agents, LLM role loops, the MCP server and the HTTP service all call
:meth:`ControlPlane.execute`. A call goes down the governed chain of :mod:`.chain`
(validation, policy, rate limit, budget, approval gate, handler) and whatever comes back is
written to the ledger with the fields of INTERFACES.md section 5: ``run``, ``step``, ``gate``
and ``outcome`` records linked by ids, plus ``step_detail`` / ``gate_detail`` companion records
(audit fields in clear, usage, reasons) and ``alert`` records.

Fail closed: an unknown tool, bad arguments, a missing policy or approver, or a store that cannot
be written stops the step; a side-effecting tool (``execute_low`` and up) runs only after its
intent is in the ledger.

The plane is a small facade over its parts: the governance steps of :mod:`.chain`, the one
execute path of :mod:`.executor` (single calls, batches, resumption, opening and closing runs),
the approval gates of :mod:`.approvals`, rollback (:mod:`.rollback`) and the ledger records of
:mod:`.records`. Other packages read runs and gates through :mod:`.queries`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from opentelemetry import trace

from tailguard.clock import Clock, SystemClock
from tailguard.control.approvals import Approvals
from tailguard.control.budget import Budgets, Reservation, RunBudget, RunTotals
from tailguard.control.chain import Call, Invoke, compensator, governed_checks
from tailguard.control.evaluator import HeuristicScorer, Scorer
from tailguard.control.executor import Executor, RunBatchResult, RunRequest
from tailguard.control.gates import Approvers, GateStore
from tailguard.control.ratelimit import RateLimiter, SqlRateLimiter
from tailguard.control.records import PlaneParts, RunLedger, new_id, summarize
from tailguard.control.results import (
    DecisionRequest,
    GateDecision,
    PendingCall,
    Run,
    RunOutcome,
    StepResult,
)
from tailguard.control.rollback import Rollback
from tailguard.control.store import ControlStore
from tailguard.control.tools import ToolRegistry, Usage
from tailguard.control.tracing import RunTracer
from tailguard.errors import InvalidInputError, TailguardError

__all__ = ["ControlPlane", "ModelCall", "RunLedger", "summarize"]


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
        self._max_retries = max_retries
        parts = PlaneParts(
            registry=registry,
            ledger=ledger,
            clock=self.clock,
            store=self.store,
            budgets=self.budgets,
            gates=self.gates,
            scorer=self.scorer,
        )
        self._executor = Executor(
            parts,
            checks=governed_checks(
                registry=registry,
                limiter=self.rate_limiter,
                budgets=self.budgets,
                approvers=approvers,
                clock=self.clock,
            ),
            invoke=Invoke(clock=self.clock, max_retries=max_retries),
            tracer=self.tracer,
            daily_run_cap=daily_run_cap,
            default_budget=self.default_budget,
        )
        self._approvals = Approvals(parts, approvers=approvers, executor=self._executor)
        self._rollback = Rollback(parts, compensate=compensator(registry, self.clock))

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
        run = Run(
            run_id=new_id("run"),
            role=role,
            initiator_id=initiator_id,
            goal_text=goal_text,
            conversation_id=conversation_id,
            started_at=self.clock.now(),
            budget=budget or self.default_budget,
        )
        self._executor.open_run(run)
        return run

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
        outcome = self._executor.finish(
            [run], status, follow_up=follow_up, user_feedback=user_feedback
        )[run.run_id]
        if isinstance(outcome, TailguardError):
            raise outcome
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
            LedgerError: the outcome could not be recorded (the handler ran only if its
                intent and checks were committed first; see :mod:`.executor`).
        """
        step_id = new_id("step")
        call = Call(
            run=run,
            tool_name=tool_name,
            args=args,
            step_id=step_id,
            requester_id=requester_id or run.initiator_id,
            idempotency_key=step_id,
            estimate=estimate,
        )
        (item,), _ = self._executor.govern([call])
        return self._executor.result_of(item)

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
            self._executor.write_alert(run, totals)
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

    # ------------------------------------------------------ batches and runs

    def execute_batch(
        self, requests: Sequence[RunRequest], *, finish: bool = True
    ) -> list[RunBatchResult]:
        """Open many runs and govern their calls in a few transactions.

        See :meth:`.executor.Executor.execute_batch`.
        """
        return self._executor.execute_batch(requests, finish=finish)

    def finish_runs(
        self, to_close: Sequence[Run], status: str = "completed"
    ) -> dict[str, RunOutcome | TailguardError]:
        """Close runs in one transaction, as :meth:`finish_run` does one.

        Returns, per run id, its evaluated outcome or the error :meth:`finish_run` would raise.
        """
        return self._executor.finish_runs(to_close, status)

    def get_run(self, run_id: str) -> Run:
        """Rebuild the handle of a run (in any process).

        Raises:
            NotFoundError: no such run.
        """
        return self._executor.get_run(run_id)

    # ---------------------------------------------------------- approval gates

    def pending_gates(self, run_id: str | None = None) -> list[PendingCall]:
        """Gates waiting for a decision (of one run, or all)."""
        return self._approvals.pending_gates(run_id)

    def decide(
        self,
        gate_id: str,
        decision: str,
        approver_id: str,
        *,
        edited_args: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> GateDecision:
        """Approve or reject a pending gate; accepted once (see :meth:`.approvals.Approvals.decide`)."""
        return self._approvals.decide(
            gate_id, decision, approver_id, edited_args=edited_args, reason=reason
        )

    def decide_many(
        self, requests: Sequence[DecisionRequest]
    ) -> list[GateDecision | TailguardError]:
        """Several decisions in one transaction (see :meth:`.approvals.Approvals.decide_many`)."""
        return self._approvals.decide_many(requests)

    def resume(self, gate_id: str) -> StepResult:
        """Run an approved call, exactly once across all processes.

        See :meth:`.approvals.Approvals.resume`.
        """
        return self._approvals.resume(gate_id)

    def resume_batch(self, gate_ids: Sequence[str]) -> dict[str, StepResult | TailguardError]:
        """Run approved calls, each exactly once (see :meth:`.executor.Executor.resume_batch`)."""
        return self._executor.resume_batch(gate_ids)

    def awaiting_execution(self, *, run_id: str | None = None) -> list[PendingCall]:
        """Approved calls nobody has run or cancelled yet (see :meth:`resume_awaiting`)."""
        return self._approvals.awaiting_execution(run_id=run_id)

    def resume_awaiting(self, *, grace_s: float = 0.0) -> dict[str, StepResult | TailguardError]:
        """Run every approved call that nobody claimed, each exactly once across processes.

        See :meth:`.approvals.Approvals.resume_awaiting`.
        """
        return self._approvals.resume_awaiting(grace_s=grace_s)

    def cancel_approved(
        self, gate_id: str, operator_id: str, *, reason: str | None = None
    ) -> StepResult:
        """Cancel an approved call that has not run: it never runs.

        See :meth:`.approvals.Approvals.cancel_approved`.
        """
        return self._approvals.cancel_approved(gate_id, operator_id, reason=reason)

    def expire_gates(
        self, now: datetime | None = None, *, gate_ids: Sequence[str] | None = None
    ) -> list[str]:
        """Time out every pending gate past its deadline (or only those of ``gate_ids``).

        Returns the gates expired here.
        """
        return self._approvals.expire_gates(now, gate_ids=gate_ids)

    # ---------------------------------------------------------------- rollback

    def rollback(self, step_id: str, *, requested_by: str, reason: str | None = None) -> StepResult:
        """Undo an executed step with its policy's compensating tool; recorded ``rolled_back``.

        See :meth:`.rollback.Rollback.rollback`.
        """
        return self._rollback.rollback(step_id, requested_by=requested_by, reason=reason)
