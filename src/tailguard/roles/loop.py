"""The governed tool-use loop of a role agent.

A user message becomes a control-plane run. The model is called with the role's system prompt
and tools; every tool call it asks for goes through :meth:`ControlPlane.execute` (policy, rate
limit, budget, approval gate, ledger); results go back to the model until it answers. A call
that needs approval pauses the run (``waiting_approval``); after a person decides, any process
can :meth:`RoleAgent.resume` it from the stored conversation. Limits stop runaway loops: the
role's token cap (reserved before each model call by the control plane, so it is never
passed), a cap on agent time (time spent waiting at a gate does not count), a cap on model
turns, the control plane's daily run cap per user, and a cost alert.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from tailguard.clock import Clock
from tailguard.control import ControlPlane, Run, RunBudget, StepOutcome, StepResult
from tailguard.control import Usage as ControlUsage
from tailguard.control.engagement import record_engagement
from tailguard.errors import BudgetExceededError, ConflictError, InvalidInputError
from tailguard.roles.conversations import ConversationStore, PendingToolCall, RunState
from tailguard.roles.providers import (
    ChatMessage,
    ModelProvider,
    ModelTurn,
    ProviderError,
    ToolCall,
    ToolSpec,
)

ReplyStatus = Literal["completed", "waiting_approval", "aborted", "failed"]
StopReason = Literal["final_answer", "approval", "token_cap", "time_cap", "turn_cap"]


class RoleLimits(Protocol):
    """The per-role caps the loop enforces (see ``RoleSpec``)."""

    @property
    def max_tokens(self) -> int: ...
    @property
    def max_seconds(self) -> float: ...
    @property
    def max_model_turns(self) -> int: ...
    @property
    def alert_cost_usd(self) -> float: ...


class RoleDomain(Protocol):
    """What the loop needs from a domain: roles, their prompts and tools, and who users are."""

    def limits(self, role: str) -> RoleLimits:
        """The caps of ``role`` (unknown role: InvalidInputError)."""
        ...

    def system_prompt(self, role: str) -> str:
        """The role's system prompt, with any live context."""
        ...

    def tool_specs(self, role: str) -> Sequence[ToolSpec]:
        """The tools the role's model is offered."""
        ...

    def check_user(self, user_id: str, role: str) -> None:
        """Refuse a user who may not speak to this role's agent."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolActivity:
    """One tool call of a run and what the control plane did with it."""

    call_id: str
    tool_name: str
    arguments: Mapping[str, Any]
    outcome: str
    step_id: str
    gate_id: str | None = None
    summary: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class GateRequest:
    """An approval card: the call waiting for a person's decision."""

    gate_id: str
    tool_name: str
    risk_level: str
    arguments: Mapping[str, Any]
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentReply:
    """What one user message (or one resumption) produced."""

    run_id: str
    conversation_id: str
    role: str
    status: ReplyStatus
    stop_reason: StopReason
    answer: str | None
    tool_calls: tuple[ToolActivity, ...] = ()
    gates: tuple[GateRequest, ...] = ()
    model_turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    quality_score: float | None = None
    objective_met: str | None = None
    model: str = ""

    @property
    def stand_in(self) -> bool:
        """True when the answer comes from the scripted rules, not from a language model."""
        return self.model.startswith("scripted")

    def to_dict(self) -> dict[str, Any]:
        """The reply as JSON-ready data (the ``tailguard chat --format json`` payload)."""
        return {
            "run_id": self.run_id,
            "conversation_id": self.conversation_id,
            "role": self.role,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "answer": self.answer,
            "tool_calls": [
                {
                    "call_id": a.call_id,
                    "tool": a.tool_name,
                    "arguments": dict(a.arguments),
                    "outcome": a.outcome,
                    "step_id": a.step_id,
                    "gate_id": a.gate_id,
                    "summary": a.summary,
                }
                for a in self.tool_calls
            ],
            "gates": [
                {
                    "gate_id": g.gate_id,
                    "tool": g.tool_name,
                    "risk_level": g.risk_level,
                    "arguments": dict(g.arguments),
                    "reason": g.reason,
                }
                for g in self.gates
            ],
            "gate_ids": [g.gate_id for g in self.gates],
            "model_turns": self.model_turns,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cost_usd": round(self.cost_usd, 6),
            },
            "outcome": None
            if self.quality_score is None
            else {"quality_score": self.quality_score, "objective_met": self.objective_met},
            "model": self.model,
            "stand_in": self.stand_in,
        }


@dataclass(kw_only=True, slots=True)
class _Segment:
    """Mutable bookkeeping of one stretch of a run in this process."""

    state: RunState
    activity: list[ToolActivity] = field(default_factory=list)
    started: float = 0.0


def _result_text(result: StepResult) -> tuple[str, bool]:
    if result.outcome is StepOutcome.EXECUTED:
        return json.dumps(result.value, default=str), False
    return json.dumps({"error": result.reason or result.outcome.value}), True


def _summary(result: StepResult) -> str | None:
    if isinstance(result.value, Mapping):
        text = result.value.get("summary")
        return str(text) if text is not None else None
    return result.reason


class RoleAgent:
    """Runs role conversations through the control plane.

    Args:
        control: the control plane (its registry must hold the domain's tools).
        provider: the model.
        conversations: durable conversations, turns and run states.
        domain: roles, prompts, tools and users.
        clock: the time source for the agent-time cap (default: the control plane's).
        output_estimate: output tokens reserved per model call before the actual is known.
    """

    def __init__(
        self,
        *,
        control: ControlPlane,
        provider: ModelProvider,
        conversations: ConversationStore,
        domain: RoleDomain,
        clock: Clock | None = None,
        output_estimate: int = 512,
    ) -> None:
        self.control = control
        self.provider = provider
        self.conversations = conversations
        self.domain = domain
        self.clock = clock or control.clock
        self.output_estimate = output_estimate

    # ------------------------------------------------------------------ entry points

    def send(
        self, *, role: str, user_id: str, message: str, conversation_id: str | None = None
    ) -> AgentReply:
        """Answer one user message: a new run in a new or existing conversation.

        Raises:
            InvalidInputError: unknown role or empty message.
            PermissionDeniedError, NotFoundError: the user may not use this role.
            BudgetExceededError: the user reached the daily run cap (no run is started).
            ConflictError: the conversation has a run waiting for approval.
            ProviderError: the model failed (the run is recorded as failed first).
        """
        limits = self.domain.limits(role)
        self.domain.check_user(user_id, role)
        if not message.strip():
            raise InvalidInputError("the message is empty")
        conversation_id = self.conversations.open_conversation(
            role=role, user_id=user_id, conversation_id=conversation_id
        )
        waiting = self.conversations.waiting_runs(conversation_id)
        if waiting:
            raise ConflictError(
                f"conversation {conversation_id} has run {waiting[0]} waiting for approval"
            )
        # The user came back: the evaluator's engagement signal for the conversation's last run.
        previous = [t.run_id for t in self.conversations.turns(conversation_id) if t.run_id]
        if previous:
            record_engagement(self.control, previous[-1], signal="next_message", by=user_id)
        run = self.control.start_run(
            role,
            user_id,
            message,
            conversation_id=conversation_id,
            budget=RunBudget(
                max_tokens=limits.max_tokens,
                alert_cost_usd=limits.alert_cost_usd,
                # Agent time is capped by the loop: the control plane's wall clock would also
                # count the minutes or hours a run waits for a person at a gate.
                max_seconds=None,
            ),
        )
        state = RunState(
            run_id=run.run_id,
            conversation_id=conversation_id,
            role=role,
            user_id=user_id,
            provider=self.provider.name,
            status="running",
            model_turns=0,
            active_seconds=0.0,
            pending=(),
        )
        self.conversations.save_state(state)
        self.conversations.append(
            conversation_id, ChatMessage(role="user", text=message), run_id=run.run_id
        )
        return self._drive(run, _Segment(state=state, started=self.clock.monotonic()))

    def decide(
        self, gate_id: str, decision: str, approver_id: str, *, reason: str | None = None
    ) -> AgentReply:
        """Record a person's decision on a gate, then continue its run."""
        self.control.decide(gate_id, decision, approver_id, reason=reason)
        return self.resume(self.control.gates.get(gate_id).run_id)

    def resume(self, run_id: str) -> AgentReply:
        """Continue a paused run whose gates are decided (in this or any other process).

        Approved calls run exactly once through :meth:`ControlPlane.resume`; a rejected or
        timed-out call is reported to the model as not executed. While a gate is still
        pending the run stays paused and the reply lists the open gates.
        """
        state = self.conversations.state(run_id)
        if state.status != "waiting_approval":
            raise ConflictError(f"run {run_id} is {state.status}, not waiting for approval")
        self.control.expire_gates()
        decisions = {p.gate_id: self.control.gates.get(p.gate_id) for p in state.pending}
        if any(d.decision == "pending" for d in decisions.values()):
            return self._waiting_reply(state, [])
        if not self.conversations.claim_resume(run_id):
            raise ConflictError(f"run {run_id} is being resumed elsewhere")
        run = self.control.get_run(run_id)
        segment = _Segment(
            state=replace(state, status="running", pending=()), started=self.clock.monotonic()
        )
        for pending in state.pending:
            gate = decisions[pending.gate_id]
            if gate.decision == "approved":
                result = self.control.resume(pending.gate_id)
                text, is_error = _result_text(result)
                outcome, summary = result.outcome.value, _summary(result)
            else:
                verdict = (
                    "rejected by the approver"
                    if gate.decision == "rejected"
                    else ("not decided in time")
                )
                text = json.dumps({"error": f"{pending.tool_name} was {verdict}; it did not run"})
                is_error, outcome, summary = True, gate.decision, verdict
            self.conversations.append(
                state.conversation_id,
                ChatMessage(
                    role="tool",
                    text=text,
                    tool_call_id=pending.call_id,
                    tool_name=pending.tool_name,
                    is_error=is_error,
                ),
                run_id=run_id,
            )
            segment.activity.append(
                ToolActivity(
                    call_id=pending.call_id,
                    tool_name=pending.tool_name,
                    arguments=dict(gate.args),
                    outcome=outcome,
                    step_id=gate.step_id,
                    gate_id=pending.gate_id,
                    summary=summary,
                )
            )
        self.conversations.save_state(segment.state)
        return self._drive(run, segment)

    # ------------------------------------------------------------------ the loop

    def _drive(self, run: Run, segment: _Segment) -> AgentReply:
        role = segment.state.role
        limits = self.domain.limits(role)
        system = self.domain.system_prompt(role)
        tools = list(self.domain.tool_specs(role))
        while True:
            if segment.state.model_turns >= limits.max_model_turns:
                return self._stop(run, segment, "turn_cap")
            if self._elapsed(segment) > limits.max_seconds:
                return self._stop(run, segment, "time_cap")
            messages = self.conversations.messages(segment.state.conversation_id)
            try:
                turn = self._call_model(run, system, messages, tools)
            except BudgetExceededError:
                return self._stop(run, segment, "token_cap")
            except ProviderError:
                self._finish(run, segment, "failed")
                raise
            segment.state = replace(segment.state, model_turns=segment.state.model_turns + 1)
            self.conversations.append(
                segment.state.conversation_id,
                ChatMessage(role="assistant", text=turn.text, tool_calls=turn.tool_calls),
                run_id=run.run_id,
                model=turn.model or self.provider.name,
                input_tokens=turn.usage.input_tokens,
                output_tokens=turn.usage.output_tokens,
                cost_usd=turn.cost_usd,
            )
            if not turn.tool_calls:
                return self._finish(run, segment, "completed", answer=turn.text)
            over_budget = self._run_tools(run, segment, turn.tool_calls)
            if segment.state.pending:
                segment.state = replace(
                    segment.state,
                    status="waiting_approval",
                    active_seconds=self._elapsed(segment),
                )
                self.conversations.save_state(segment.state)
                return self._waiting_reply(segment.state, segment.activity)
            if over_budget:
                return self._stop(run, segment, "token_cap")
            self.conversations.save_state(
                replace(segment.state, active_seconds=self._elapsed(segment))
            )

    def _call_model(
        self, run: Run, system: str, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelTurn:
        prompt_chars = len(system) + sum(len(json.dumps(m.to_dict())) for m in messages)
        prompt_chars += sum(len(json.dumps(dict(t.parameters))) + len(t.description) for t in tools)
        estimate = ControlUsage(
            input_tokens=prompt_chars // 4 + 1, output_tokens=self.output_estimate
        )
        with self.control.model_call(run, estimate) as slot:
            turn = self.provider.complete(system, messages, tools)
            slot.record(
                ControlUsage(
                    input_tokens=turn.usage.input_tokens,
                    output_tokens=turn.usage.output_tokens,
                    cost_usd=turn.cost_usd,
                )
            )
        return turn

    def _run_tools(self, run: Run, segment: _Segment, calls: Sequence[ToolCall]) -> bool:
        over_budget = False
        pending: list[PendingToolCall] = []
        for call in calls:
            result = self.control.execute(
                run, call.name, call.arguments, requester_id=segment.state.user_id
            )
            segment.activity.append(
                ToolActivity(
                    call_id=call.id,
                    tool_name=call.name,
                    arguments=dict(call.arguments),
                    outcome=result.outcome.value,
                    step_id=result.step_id,
                    gate_id=result.gate_id,
                    summary=_summary(result),
                )
            )
            if result.outcome is StepOutcome.PENDING_APPROVAL and result.gate_id:
                pending.append(
                    PendingToolCall(gate_id=result.gate_id, call_id=call.id, tool_name=call.name)
                )
                continue
            over_budget = over_budget or result.outcome is StepOutcome.BUDGET_EXCEEDED
            text, is_error = _result_text(result)
            self.conversations.append(
                segment.state.conversation_id,
                ChatMessage(
                    role="tool",
                    text=text,
                    tool_call_id=call.id,
                    tool_name=call.name,
                    is_error=is_error,
                ),
                run_id=run.run_id,
            )
        segment.state = replace(segment.state, pending=tuple(pending))
        return over_budget

    # ------------------------------------------------------------------ endings

    def _elapsed(self, segment: _Segment) -> float:
        return segment.state.active_seconds + (self.clock.monotonic() - segment.started)

    def _stop(self, run: Run, segment: _Segment, reason: StopReason) -> AgentReply:
        limits = self.domain.limits(segment.state.role)
        what = {
            "token_cap": f"the token cap of {limits.max_tokens:,} tokens",
            "time_cap": f"the time cap of {limits.max_seconds:g} seconds",
            "turn_cap": f"the limit of {limits.max_model_turns} model turns",
        }.get(reason, reason)
        answer = f"I stopped before finishing: this request reached {what}."
        return self._finish(run, segment, "aborted", answer=answer, stop_reason=reason)

    def _finish(
        self,
        run: Run,
        segment: _Segment,
        status: ReplyStatus,
        *,
        answer: str | None = None,
        stop_reason: StopReason = "final_answer",
    ) -> AgentReply:
        outcome = self.control.finish_run(run, status)
        segment.state = replace(
            segment.state, status=status, pending=(), active_seconds=self._elapsed(segment)
        )
        self.conversations.save_state(segment.state)
        totals = self.control.budgets.totals(run.run_id)
        return AgentReply(
            run_id=run.run_id,
            conversation_id=segment.state.conversation_id,
            role=segment.state.role,
            status=status,
            stop_reason=stop_reason,
            answer=answer,
            tool_calls=tuple(segment.activity),
            model_turns=segment.state.model_turns,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cost_usd=totals.cost_usd,
            quality_score=outcome.quality_score,
            objective_met=outcome.objective_met,
            model=self.provider.name,
        )

    def _waiting_reply(self, state: RunState, activity: Sequence[ToolActivity]) -> AgentReply:
        gates = []
        for pending in state.pending:
            call = self.control.gates.get(pending.gate_id)
            if call.decision != "pending":
                continue
            gates.append(
                GateRequest(
                    gate_id=call.gate_id,
                    tool_name=call.tool_name,
                    risk_level=call.risk_level,
                    arguments=dict(call.args),
                    reason=call.reason,
                )
            )
        totals = self.control.budgets.totals(state.run_id)
        return AgentReply(
            run_id=state.run_id,
            conversation_id=state.conversation_id,
            role=state.role,
            status="waiting_approval",
            stop_reason="approval",
            answer=None,
            tool_calls=tuple(activity),
            gates=tuple(gates),
            model_turns=state.model_turns,
            input_tokens=totals.input_tokens,
            output_tokens=totals.output_tokens,
            cost_usd=totals.cost_usd,
            model=self.provider.name,
        )
