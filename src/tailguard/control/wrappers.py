"""Governance as small wrappers around one call interface.

Every governed call is a :class:`Call` passed down a chain of :class:`Executor` wrappers, each
of which either stops the call with an :class:`Attempt` saying why, or passes it on::

    ValidateArgs -> CheckPolicy -> RateLimit -> Budget -> ApprovalGate -> InvokeHandler

Each wrapper knows one concern and can be tested alone; :class:`ControlPlane` composes them
and writes the ledger for whatever comes back. Nothing is executed unless every wrapper passed.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from tailguard.clock import Clock
from tailguard.control.budget import Budgets, RunTotals
from tailguard.control.gates import Approvers, GateStore
from tailguard.control.policy import Policy
from tailguard.control.ratelimit import RateLimiter
from tailguard.control.results import PendingCall, Run, StepOutcome
from tailguard.control.tools import Compensation, Tool, ToolContext, ToolOutput, ToolRegistry, Usage
from tailguard.errors import (
    BudgetExceededError,
    ConflictError,
    InvalidInputError,
    LedgerError,
    NotFoundError,
    TailguardError,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Call:
    """One governed call on its way down the wrapper chain.

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

    @property
    def resumed(self) -> bool:
        """True when this call was approved at a gate and is now being run."""
        return self.gate_id is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class Attempt:
    """What became of a call inside the chain (the plane turns it into ledger records)."""

    outcome: StepOutcome
    reason: str | None = None
    value: Any = None
    usage: Usage | None = None
    retries: int = 0
    latency_ms: float | None = None
    gate: PendingCall | None = None
    totals: RunTotals | None = None
    summary: str | None = None
    call: Call | None = None


class Executor(Protocol):
    """Anything that takes a call to its outcome; every wrapper is one."""

    def __call__(self, call: Call) -> Attempt:
        """Run (or stop) the call."""
        ...


@dataclass(frozen=True, slots=True)
class ValidateArgs:
    """Resolves the tool and checks the arguments against its JSON schema."""

    registry: ToolRegistry
    wrapped: Executor

    def __call__(self, call: Call) -> Attempt:
        """Stop unknown tools and invalid arguments; pass on the validated call."""
        checked = validate_call(self.registry, call)
        if isinstance(checked, Attempt):
            return checked
        attempt = self.wrapped(checked)
        # The recorder needs the validated call (policy, canonical arguments) whatever happened.
        return attempt if attempt.call is not None else dataclasses.replace(attempt, call=checked)


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    """Refuses calls the tool's policy does not allow for this run (fail closed)."""

    wrapped: Executor

    def __call__(self, call: Call) -> Attempt:
        """Stop a call with no policy or from a role the policy does not admit."""
        refused = policy_refusal(call)
        return refused if refused is not None else self.wrapped(call)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Counts the call against the tool's per-user limit for the sliding window."""

    limiter: RateLimiter
    clock: Clock
    wrapped: Executor

    def __call__(self, call: Call) -> Attempt:
        """Stop the call when the requester used up the tool's calls for the window."""
        assert call.policy is not None
        limit = call.policy.rate_limit
        # An approved call being resumed was counted when it was requested.
        if limit is not None and not call.resumed:
            decision = self.limiter.acquire(
                call.requester_id, call.tool_name, limit=limit, now=self.clock.now()
            )
            if not decision.allowed:
                return Attempt(
                    outcome=StepOutcome.RATE_LIMITED,
                    reason=(
                        f"rate_limited: {decision.used}/{limit} calls per minute used; "
                        f"retry in {decision.retry_after_s:.1f}s"
                    ),
                )
        return self.wrapped(call)


@dataclass(frozen=True, slots=True)
class Budget:
    """Checks the run's caps, reserves the call's estimate, and reconciles the actual usage."""

    budgets: Budgets
    clock: Clock
    wrapped: Executor
    on_alert: Callable[[Run, RunTotals], None] | None = None

    def __call__(self, call: Call) -> Attempt:
        """Stop the call when the run is out of budget; settle its usage afterwards."""
        now = self.clock.now()
        try:
            # Time spent waiting for a person at a gate does not count against the run's
            # wall-time cap; tokens and money still do.
            self.budgets.check_open(call.run.run_id, now=now, wall_time=not call.resumed)
            reservation = (
                self.budgets.reserve(
                    call.run.run_id,
                    tokens=call.estimate.total_tokens,
                    cost_usd=call.estimate.cost_usd,
                    now=now,
                )
                if call.estimate is not None
                else None
            )
        except BudgetExceededError as exc:
            return Attempt(
                outcome=StepOutcome.BUDGET_EXCEEDED, reason=f"budget_exceeded: {exc.message}"
            )
        except ConflictError as exc:
            return Attempt(outcome=StepOutcome.REJECTED, reason=f"run_closed: {exc.message}")
        try:
            attempt = self.wrapped(call)
        except BaseException:
            if reservation is not None:
                self.budgets.settle(reservation, None)
            raise
        if attempt.outcome is not StepOutcome.EXECUTED:
            if reservation is not None:
                self.budgets.settle(reservation, None)
            return attempt
        if reservation is not None:
            totals = self.budgets.settle(reservation, attempt.usage or Usage())
        elif attempt.usage is not None:
            # Usage reported without an estimate is money already spent: it still counts.
            totals = self.budgets.record_usage(call.run.run_id, attempt.usage)
        else:
            return attempt
        if totals.alert_due and self.on_alert is not None:
            self.on_alert(call.run, totals)
        return dataclasses.replace(attempt, totals=totals)


@dataclass(frozen=True, slots=True)
class ApprovalGate:
    """Parks calls whose policy requires approval at a durable gate (fail closed)."""

    gates: GateStore
    approvers: Approvers | None
    clock: Clock
    wrapped: Executor

    def __call__(self, call: Call) -> Attempt:
        """Open a pending gate for a gated call; pass approved (resumed) calls through."""
        assert call.policy is not None
        if not call.policy.requires_approval or call.resumed:
            return self.wrapped(call)
        if self.approvers is None:
            return Attempt(
                outcome=StepOutcome.REJECTED,
                reason="no_approver: no approver is configured, so gated calls are denied",
            )
        pending = new_pending_call(call, self.clock.now())
        self.gates.create(pending)
        return Attempt(outcome=StepOutcome.PENDING_APPROVAL, reason=pending.reason, gate=pending)


@dataclass(frozen=True, slots=True)
class InvokeHandler:
    """Runs the tool's handler; an idempotent tool is retried on failure."""

    clock: Clock
    max_retries: int = 2
    before: Callable[[Call], None] | None = None

    def __call__(self, call: Call) -> Attempt:
        """Call the handler and capture its value, usage, latency and retries."""
        assert call.tool is not None
        assert call.policy is not None
        if self.before is not None:
            # The write-ahead hook: if evidence cannot be written, nothing runs.
            try:
                self.before(call)
            except LedgerError as exc:
                return Attempt(outcome=StepOutcome.ERROR, reason=f"ledger_error: {exc.message}")
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
        error: Exception | None = None
        for attempt in range(attempts):
            try:
                value = call.tool.handler(call.args, ctx)
            except Exception as exc:  # a tool's failure is recorded, never propagated
                error = exc
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
            )
        assert error is not None
        message = error.message if isinstance(error, TailguardError) else str(error)
        return Attempt(
            outcome=StepOutcome.ERROR,
            reason=f"tool_error: {type(error).__name__}: {message}",
            retries=attempts - 1,
            latency_ms=(self.clock.monotonic() - started) * 1000.0,
        )


def validate_call(registry: ToolRegistry, call: Call) -> Call | Attempt:
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


def governed_chain(
    *,
    registry: ToolRegistry,
    limiter: RateLimiter,
    budgets: Budgets,
    gates: GateStore,
    approvers: Approvers | None,
    clock: Clock,
    on_alert: Callable[[Run, RunTotals], None] | None = None,
    before_handler: Callable[[Call], None] | None = None,
    max_retries: int = 2,
) -> Executor:
    """The standard chain: validation, policy, rate limit, budget, approval gate, handler."""
    invoke = InvokeHandler(clock=clock, max_retries=max_retries, before=before_handler)
    gate = ApprovalGate(gates=gates, approvers=approvers, clock=clock, wrapped=invoke)
    budget = Budget(budgets=budgets, clock=clock, wrapped=gate, on_alert=on_alert)
    rate = RateLimit(limiter=limiter, clock=clock, wrapped=budget)
    return ValidateArgs(registry=registry, wrapped=CheckPolicy(wrapped=rate))
