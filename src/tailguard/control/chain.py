"""Governance as small steps over batches of calls: the one chain every governed call walks.

Every governed call is a :class:`Call`; a batch of them (one call of ``execute``, the hour's
hundreds of calls of the area agents, the approved calls of ``resume``) walks the same steps::

    ValidateArgs -> CheckPolicy -> RateLimit -> Budget -> ApprovalGate     (the checks)
    Invoke                                                                 (the handlers)

A check takes the calls still in play and the connection of the executor's write transaction
and returns, per call, either the call (passed on, perhaps enriched: the resolved tool, a
budget reservation) or the :class:`Attempt` that stops it. :func:`run_checks` feeds each check
only the survivors of the previous ones. The executor (:mod:`.executor`) commits the checks'
rows with the write-ahead evidence of every admitted call before :class:`Invoke` runs any
handler: no record, no side effect. Each step knows one concern and can be tested alone.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any, Protocol

import sqlalchemy as sa

from tailguard.clock import Clock
from tailguard.control.budget import Budgets, Reservation, RunTotals, check_open_row
from tailguard.control.gates import Approvers
from tailguard.control.policy import Policy
from tailguard.control.ratelimit import RateLimiter, SqlRateLimiter
from tailguard.control.results import PendingCall, Run, StepOutcome
from tailguard.control.store import rows_by_key, runs
from tailguard.control.tools import Compensation, Tool, ToolContext, ToolOutput, ToolRegistry, Usage
from tailguard.errors import (
    BudgetExceededError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    TailguardError,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Call:
    """One governed call on its way down the chain.

    Attributes:
        run: the run it belongs to.
        tool_name: the tool asked for.
        args: the arguments (validated once :class:`ValidateArgs` has passed).
        step_id: the step id assigned to this call.
        requester_id: the user on whose behalf it runs (rate limits count per requester).
        idempotency_key: handed to the handler; stable across retries and resumption.
        estimate: usage to reserve from the run's budget before the handler runs.
        tool: the resolved tool (set by :class:`ValidateArgs`).
        policy: the tool's policy (set by :class:`ValidateArgs`).
        gate_id: set when resuming a call approved at this gate.
        compensates: set when the call rolls back an earlier step.
        reservation: the estimate reserved by :class:`Budget` (settled after the handler).
        spent: the run's tokens and micro-dollars used when :class:`Budget` read it.
    """

    run: Run
    tool_name: str
    args: Mapping[str, Any]
    step_id: str
    requester_id: str
    idempotency_key: str
    estimate: Usage | None = None
    tool: Tool | None = None
    policy: Policy | None = None
    gate_id: str | None = None
    compensates: Compensation | None = None
    reservation: Reservation | None = None
    spent: tuple[int, int] = (0, 0)

    @property
    def resumed(self) -> bool:
        """True when this call was approved at a gate and is now being run."""
        return self.gate_id is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class Attempt:
    """What became of a call in the chain (the executor turns it into ledger records)."""

    outcome: StepOutcome
    reason: str | None = None
    value: Any = None
    usage: Usage | None = None
    retries: int = 0
    latency_ms: float | None = None
    gate: PendingCall | None = None
    totals: RunTotals | None = None
    summary: str | None = None
    #: Wall-clock span of the handler (epoch ns), for the step's trace span.
    started_ns: int | None = None
    ended_ns: int | None = None


#: Per call of a batch: the call passed on, or the attempt that stopped it.
Checked = Call | Attempt


class Check(Protocol):
    """One governance step over the calls still in play, inside the executor's transaction."""

    def __call__(self, calls: Sequence[Call], conn: sa.Connection) -> list[Checked]:
        """Per call, in order: the call passed on, or the attempt that stops it."""
        ...


def run_checks(
    checks: Sequence[Check], calls: Sequence[Call], conn: sa.Connection
) -> tuple[list[Call], list[Attempt | None]]:
    """Take ``calls`` through ``checks``, each seeing only the survivors of the previous ones.

    Returns:
        The calls as the last check that saw each left them (resolved tool and policy,
        reservation), and per call the attempt that stopped it or None (admitted).
    """
    current = list(calls)
    stopped: list[Attempt | None] = [None] * len(current)
    alive = list(range(len(current)))
    for check in checks:
        if not alive:
            break
        answers = check([current[i] for i in alive], conn)
        survivors = []
        for i, answer in zip(alive, answers, strict=True):
            if isinstance(answer, Attempt):
                stopped[i] = answer
            else:
                current[i] = answer
                survivors.append(i)
        alive = survivors
    return current, stopped


@dataclass(frozen=True, slots=True)
class ValidateArgs:
    """Resolves the tool and checks the arguments against its JSON schema."""

    registry: ToolRegistry

    def __call__(self, calls: Sequence[Call], conn: sa.Connection) -> list[Checked]:
        """Stop unknown tools and invalid arguments; pass on the validated calls."""
        del conn
        return [validate_call(self.registry, call) for call in calls]


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    """Refuses calls the tool's policy does not allow for this run (fail closed)."""

    def __call__(self, calls: Sequence[Call], conn: sa.Connection) -> list[Checked]:
        """Stop a call with no policy or from a role the policy does not admit."""
        del conn
        return [policy_refusal(call) or call for call in calls]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Counts each call against its tool's per-user limit for the sliding window."""

    limiter: RateLimiter
    clock: Clock

    def __call__(self, calls: Sequence[Call], conn: sa.Connection) -> list[Checked]:
        """Stop the calls whose requester used up the tool's calls for the window."""
        now = self.clock.now()
        out: list[Checked] = []
        for call in calls:
            assert call.policy is not None
            limit = call.policy.rate_limit
            # An approved call being resumed was counted when it was requested.
            if limit is None or call.resumed:
                out.append(call)
                continue
            if isinstance(self.limiter, SqlRateLimiter):
                decision = self.limiter.acquire_in(
                    conn, call.requester_id, call.tool_name, limit=limit, now=now
                )
            else:
                decision = self.limiter.acquire(
                    call.requester_id, call.tool_name, limit=limit, now=now
                )
            if decision.allowed:
                out.append(call)
            else:
                out.append(
                    Attempt(
                        outcome=StepOutcome.RATE_LIMITED,
                        reason=(
                            f"rate_limited: {decision.used}/{limit} calls per minute used; "
                            f"retry in {decision.retry_after_s:.1f}s"
                        ),
                    )
                )
        return out


@dataclass(frozen=True, slots=True)
class Budget:
    """Checks each run's caps and reserves the call's estimate (settled after the handler)."""

    budgets: Budgets
    clock: Clock

    def __call__(self, calls: Sequence[Call], conn: sa.Connection) -> list[Checked]:
        """Stop the calls of runs that are closed or out of budget; reserve estimates."""
        now = self.clock.now()
        rows = rows_by_key(conn, runs.c.run_id, {c.run.run_id for c in calls})
        out: list[Checked] = []
        for call in calls:
            row = rows.get(call.run.run_id)
            if row is None:
                raise NotFoundError(f"unknown run {call.run.run_id!r}")
            try:
                # Time spent waiting for a person at a gate does not count against the run's
                # wall-time cap; tokens and money still do.
                check_open_row(row, now, wall_time=not call.resumed)
                reservation = (
                    self.budgets.reserve_in(
                        conn,
                        call.run.run_id,
                        tokens=call.estimate.total_tokens,
                        cost_usd=call.estimate.cost_usd,
                        now=now,
                        wall_time=not call.resumed,
                    )
                    if call.estimate is not None
                    else None
                )
            except BudgetExceededError as exc:
                out.append(
                    Attempt(
                        outcome=StepOutcome.BUDGET_EXCEEDED,
                        reason=f"budget_exceeded: {exc.message}",
                    )
                )
                continue
            except ConflictError as exc:
                out.append(
                    Attempt(outcome=StepOutcome.REJECTED, reason=f"run_closed: {exc.message}")
                )
                continue
            spent = (int(row.input_tokens + row.output_tokens), int(row.cost_micros))
            out.append(dataclasses.replace(call, reservation=reservation, spent=spent))
        return out


@dataclass(frozen=True, slots=True)
class ApprovalGate:
    """Parks calls whose policy requires approval at a gate (fail closed).

    The gate is returned in the attempt; the executor stores it with its records.
    """

    approvers: Approvers | None
    clock: Clock

    def __call__(self, calls: Sequence[Call], conn: sa.Connection) -> list[Checked]:
        """A pending gate per gated call; approved (resumed) and ungated calls pass."""
        del conn
        now = self.clock.now()
        out: list[Checked] = []
        for call in calls:
            assert call.policy is not None
            if not call.policy.requires_approval or call.resumed:
                out.append(call)
            elif self.approvers is None:
                out.append(
                    Attempt(
                        outcome=StepOutcome.REJECTED,
                        reason="no_approver: no approver is configured, so gated calls are denied",
                    )
                )
            else:
                pending = new_pending_call(call, now)
                out.append(
                    Attempt(
                        outcome=StepOutcome.PENDING_APPROVAL, reason=pending.reason, gate=pending
                    )
                )
        return out


def governed_checks(
    *,
    registry: ToolRegistry,
    limiter: RateLimiter,
    budgets: Budgets,
    approvers: Approvers | None,
    clock: Clock,
) -> tuple[Check, ...]:
    """The standard checks: validation, policy, rate limit, budget, approval gate."""
    return (
        ValidateArgs(registry),
        CheckPolicy(),
        RateLimit(limiter, clock),
        Budget(budgets, clock),
        ApprovalGate(approvers, clock),
    )


@dataclass(slots=True)
class _RunUsage:
    tokens: int
    cost_micros: int


@dataclass(frozen=True, slots=True)
class Invoke:
    """Runs the handlers of admitted calls, in order; an idempotent tool is retried.

    Before each handler the run's budget is checked again in memory, counting the usage that
    earlier calls of the batch reported, so a batch stops at a cap where one-by-one calls would.
    """

    clock: Clock
    max_retries: int = 2

    def __call__(self, calls: Sequence[Call]) -> list[Attempt]:
        """One attempt per call: executed (value, usage, latency, retries), error or stopped."""
        usage: dict[str, _RunUsage] = {}
        out: list[Attempt] = []
        for call in calls:
            used = usage.setdefault(call.run.run_id, _RunUsage(*call.spent))
            refused = budget_refusal(call, used.tokens, used.cost_micros, self.clock.now())
            if refused is not None:
                out.append(refused)
                continue
            attempt = self.one(call)
            if attempt.outcome is StepOutcome.EXECUTED and attempt.usage is not None:
                used.tokens += attempt.usage.total_tokens
                used.cost_micros += round(attempt.usage.cost_usd * 1_000_000)
            out.append(attempt)
        return out

    def one(self, call: Call) -> Attempt:
        """Call one handler and capture its value, usage, latency and retries."""
        assert call.tool is not None
        assert call.policy is not None
        ctx = ToolContext(
            run_id=call.run.run_id,
            step_id=call.step_id,
            role=call.run.role,
            initiator_id=call.run.initiator_id,
            requester_id=call.requester_id,
            idempotency_key=call.idempotency_key,
            gate_id=call.gate_id,
            compensates=call.compensates,
        )
        attempts = 1 + (self.max_retries if call.policy.idempotent else 0)
        started = self.clock.monotonic()
        started_ns = time.time_ns()
        error: Exception | None = None
        for attempt in range(attempts):
            try:
                value = call.tool.handler(call.args, ctx)
            except Exception as exc:  # a tool's failure is recorded, never propagated
                error = exc
                if isinstance(exc, BudgetExceededError):
                    break  # a refusal, not a failure: retrying would be refused again
                continue
            latency = (self.clock.monotonic() - started) * 1000.0
            output = value if isinstance(value, ToolOutput) else None
            return Attempt(
                outcome=StepOutcome.EXECUTED,
                value=output.value if output is not None else value,
                usage=output.usage if output is not None else None,
                summary=output.summary if output is not None else None,
                retries=attempt,
                latency_ms=latency,
                started_ns=started_ns,
                ended_ns=time.time_ns(),
            )
        assert error is not None
        message = error.message if isinstance(error, TailguardError) else str(error)
        if isinstance(error, BudgetExceededError):
            # A tool's own budget (the crowd's test and adoption caps) refused the call: the
            # same outcome as a run budget's refusal, nothing was done.
            return Attempt(
                outcome=StepOutcome.BUDGET_EXCEEDED,
                reason=f"budget_exceeded: {message}",
                retries=attempt,
                latency_ms=(self.clock.monotonic() - started) * 1000.0,
                started_ns=started_ns,
                ended_ns=time.time_ns(),
            )
        return Attempt(
            outcome=StepOutcome.ERROR,
            reason=f"tool_error: {type(error).__name__}: {message}",
            retries=attempts - 1,
            latency_ms=(self.clock.monotonic() - started) * 1000.0,
            started_ns=started_ns,
            ended_ns=time.time_ns(),
        )


def validate_call(registry: ToolRegistry, call: Call) -> Checked:
    """The call with its tool, policy and validated arguments, or the error that stops it."""
    try:
        tool = registry.tool(call.tool_name)
        policy = registry.policy(call.tool_name)
        args = registry.validate(call.tool_name, call.args)
    except NotFoundError as exc:
        return Attempt(outcome=StepOutcome.ERROR, reason=f"unknown_tool: {exc.message}")
    except InvalidInputError as exc:
        return Attempt(outcome=StepOutcome.ERROR, reason=f"invalid_args: {exc.message}")
    return dataclasses.replace(call, tool=tool, policy=policy, args=args)


def policy_refusal(call: Call) -> Attempt | None:
    """Why the tool's policy refuses this call (no policy, or a role it does not admit)."""
    policy = call.policy
    if policy is None:
        return Attempt(outcome=StepOutcome.ERROR, reason="policy_error: the tool has no policy")
    if policy.roles is not None and call.run.role not in policy.roles:
        return Attempt(
            outcome=StepOutcome.REJECTED,
            reason=f"policy: role {call.run.role!r} may not call {call.tool_name}",
        )
    return None


def budget_refusal(call: Call, tokens: int, cost_micros: int, now: datetime) -> Attempt | None:
    """The budget check before a handler, on the run's usage as the batch has seen it."""
    budget = call.run.budget
    wall_time = not call.resumed
    if budget.max_tokens is None and budget.max_cost_usd is None and not wall_time:
        return None
    if budget.max_seconds is None and not tokens and not cost_micros:
        return None
    row = SimpleNamespace(
        run_id=call.run.run_id,
        status="running",
        started_at=call.run.started_at.timestamp(),
        max_seconds=budget.max_seconds,
        max_tokens=budget.max_tokens,
        max_cost_micros=None
        if budget.max_cost_usd is None
        else round(budget.max_cost_usd * 1_000_000),
        input_tokens=0,
        output_tokens=tokens,
        cost_micros=cost_micros,
    )
    try:
        check_open_row(row, now, wall_time=wall_time)
    except BudgetExceededError as exc:
        return Attempt(
            outcome=StepOutcome.BUDGET_EXCEEDED, reason=f"budget_exceeded: {exc.message}"
        )
    return None


def new_pending_call(call: Call, now: datetime) -> PendingCall:
    """The pending gate of a gated call presented at ``now`` (not stored yet)."""
    assert call.policy is not None
    timeout = call.policy.approval_timeout
    return PendingCall(
        gate_id=f"gate_{uuid.uuid4().hex}",
        run_id=call.run.run_id,
        step_id=call.step_id,
        tool_name=call.tool_name,
        args=dict(call.args),
        risk_level=call.policy.risk_level.value,
        reason=f"{call.tool_name} is {call.policy.risk_level.value} and requires approval",
        requester_id=call.requester_id,
        initiator_id=call.run.initiator_id,
        presented_at=now,
        expires_at=now + timedelta(seconds=timeout) if timeout is not None else None,
        decision="pending",
        decided_by=None,
        decided_at=None,
        idempotency_key=call.idempotency_key,
    )


#: What the rollback of a step runs: its compensating call, validated, never retried.
Compensate = Callable[[Call], Attempt]


def compensator(registry: ToolRegistry, clock: Clock) -> Compensate:
    """Validate and run a compensating call (rollback: no rate limit, budget or gate)."""
    invoke = Invoke(clock=clock, max_retries=0)

    def run(call: Call) -> Attempt:
        checked = validate_call(registry, call)
        return checked if isinstance(checked, Attempt) else invoke.one(checked)

    return run


__all__ = [
    "ApprovalGate",
    "Attempt",
    "Budget",
    "Call",
    "Check",
    "CheckPolicy",
    "Checked",
    "Invoke",
    "RateLimit",
    "ValidateArgs",
    "governed_checks",
    "run_checks",
]
