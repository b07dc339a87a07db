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

This module holds runs, execution and budgets; the approval-gate methods come from
:mod:`.approvals`, rollback from :mod:`.rollback` and the ledger records from :mod:`.records`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from opentelemetry import trace

from tailguard.clock import Clock, SystemClock
from tailguard.control.approvals import GateMixin
from tailguard.control.budget import Budgets, Reservation, RunBudget, RunTotals
from tailguard.control.chain import Call, Invoke, compensator, governed_checks
from tailguard.control.evaluator import HeuristicScorer, Scorer
from tailguard.control.executor import ExecutorMixin
from tailguard.control.gates import Approvers, GateStore
from tailguard.control.ratelimit import RateLimiter, SqlRateLimiter
from tailguard.control.records import RunLedger, new_id, run_row, summarize
from tailguard.control.results import Run, RunOutcome, StepResult
from tailguard.control.rollback import RollbackMixin
from tailguard.control.store import ControlStore, runs
from tailguard.control.tools import ToolRegistry, Usage
from tailguard.control.tracing import RunTracer
from tailguard.errors import InvalidInputError, TailguardError

__all__ = ["ControlPlane", "ModelCall", "RunLedger", "summarize"]

# Names importable from this module before the split into records.py, approvals.py and
# rollback.py, kept importable here for existing callers.
from tailguard.control.policy import Policy, RiskLevel  # noqa: F401
from tailguard.control.records import STEP_FIELDS as _STEP_FIELDS  # noqa: F401
from tailguard.control.records import STOPPED_STATUS as _STOPPED_STATUS  # noqa: F401
from tailguard.control.records import jsonable as _jsonable  # noqa: F401
from tailguard.control.records import new_id as _new_id  # noqa: F401
from tailguard.control.records import pending_dict as _pending_dict  # noqa: F401
from tailguard.control.results import GateDecision, PendingCall  # noqa: F401
from tailguard.control.store import rollbacks, step_payloads  # noqa: F401
from tailguard.control.tools import Compensation, args_hash, canonical_json  # noqa: F401
from tailguard.errors import PermissionDeniedError, PolicyError  # noqa: F401


class ModelCall:
    """A reserved slot for one model call; report the actual usage with :meth:`record`."""

    def __init__(self, reservation: Reservation) -> None:
        self.reservation = reservation
        self.actual: Usage | None = None

    def record(self, usage: Usage) -> None:
        """The call's real usage (replaces the estimate when the slot closes)."""
        self.actual = usage


class ControlPlane(ExecutorMixin, GateMixin, RollbackMixin):
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
        self._checks = governed_checks(
            registry=registry,
            limiter=self.rate_limiter,
            budgets=self.budgets,
            approvers=approvers,
            clock=self.clock,
        )
        self._invoke = Invoke(clock=self.clock, max_retries=max_retries)
        self._compensate = compensator(registry, self.clock)

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
            run_id=new_id("run"),
            role=role,
            initiator_id=initiator_id,
            goal_text=goal_text,
            conversation_id=conversation_id,
            started_at=now,
            budget=budget,
        )
        with self.store.write() as conn:
            conn.execute(sa.insert(runs).values(**run_row(run)))
        self._append([("run", self._run_fields(run, "running", steps_count=0))])
        self.tracer.start_run(
            run_id=run.run_id, role=role, initiator_id=initiator_id, conversation_id=conversation_id
        )
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
        outcome = self._finish([run], status, follow_up=follow_up, user_feedback=user_feedback)[
            run.run_id
        ]
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
        (item,), _ = self._govern([call])
        return self._result_of(item)

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
