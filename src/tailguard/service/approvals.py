"""What the approvals API and the approvals inbox share: a pending gate, a decision, a resumption.

A decision is :meth:`ControlPlane.decide` on the service's control plane with the person (an
API key's name) as the approver, so the control plane refuses a person deciding a gate of a run
they started or asked for, and records who decided. It runs under ``state.decide_lock`` (the
database work only) and is counted in ``tailguard_approvals_total``; :func:`decide_many` takes
several in one transaction, each with what :func:`decide` would give it. The run then resumes
(:func:`resume_decided`): an approved call runs exactly once (:meth:`ControlPlane.resume`),
or, for a role agent's run when the surface asks for it, the agent runs its decided calls and
carries the conversation on to its answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa

from tailguard.clock import format_ts
from tailguard.control import DecisionRequest, GateDecision, StepResult
from tailguard.errors import InvalidInputError, TailguardError
from tailguard.roles.loop import AgentReply
from tailguard.service import metrics
from tailguard.service.api.models import PendingApproval
from tailguard.service.chatstack import chat_stack, is_chat_run
from tailguard.service.settings import ServiceState


def audit_fields(state: ServiceState, tool_name: str) -> tuple[str, ...]:
    """The fields of ``tool_name``'s arguments that its policy shows in clear."""
    if tool_name in state.registry:
        return tuple(state.registry.policy(tool_name).audit_fields)
    policy = state.policies.get(tool_name)
    return tuple(policy.audit_fields) if policy is not None else ()


def pending_approval(
    state: ServiceState, row: sa.Row[Any], *, now: datetime, full_args: bool
) -> PendingApproval:
    """A row of :func:`tailguard.service.queries.pending_gates` as an approver sees it.

    The policy's audit fields are in clear; all the arguments only with ``full_args``.
    """
    args: dict[str, Any] = json.loads(row.args_json)
    awaiting = row.decision == "approved"
    return PendingApproval(
        status="awaiting_execution" if awaiting else "pending",
        decided_by=row.decided_by if awaiting else None,
        decided_at=format_ts(datetime.fromtimestamp(row.decided_at, UTC))
        if awaiting and row.decided_at is not None
        else None,
        gate_id=row.gate_id,
        run_id=row.run_id,
        step_id=row.step_id,
        tool_name=row.tool_name,
        risk_level=row.risk_level,
        reason=row.reason,
        requester_id=row.requester_id,
        initiator_id=row.initiator_id,
        presented_at=format_ts(datetime.fromtimestamp(row.presented_at, UTC)),
        expires_at=None
        if row.expires_at is None
        else format_ts(datetime.fromtimestamp(row.expires_at, UTC)),
        age_s=max(0.0, now.timestamp() - row.presented_at),
        audit_args={k: args[k] for k in audit_fields(state, row.tool_name) if k in args},
        args=args if full_args else None,
    )


#: What a person may decide on a gate, on the API and in the inbox alike.
DECISIONS: Final = ("approve", "reject", "edit")


def request(
    approver_id: str,
    gate_id: str,
    decision: str,
    *,
    edited_args: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> DecisionRequest:
    """A person's decision as the control plane takes it; one meaning for every surface.

    ``approve`` runs the call as it was asked for, ``reject`` never runs it, and ``edit``
    approves it with ``edited_args``: the whole arguments the call runs with instead (the
    API's ``args``; the inbox's form or JSON editor), checked by the control plane against the
    tool's JSON Schema and recorded with the decision (``edited``, the hash and the audit
    fields of the edited arguments).

    Raises:
        InvalidInputError: an unknown decision, an edit without arguments, or arguments with
            an approval or a rejection.
    """
    if decision not in DECISIONS:
        raise InvalidInputError(f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}")
    if decision == "edit" and edited_args is None:
        raise InvalidInputError("an edit needs the edited arguments")
    if decision != "edit" and edited_args is not None:
        raise InvalidInputError(f"edited arguments come only with an edit, not {decision!r}")
    return DecisionRequest(
        gate_id,
        "reject" if decision == "reject" else "approve",
        approver_id,
        edited_args,
        reason,
    )


def decide(
    state: ServiceState,
    approver_id: str,
    gate_id: str,
    decision: str,
    *,
    edited_args: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> GateDecision:
    """Decide a pending gate as ``approver_id``: ``approve``, ``reject`` or ``edit``.

    What each means, on the API and in the inbox alike: :func:`request`. An ``edit`` is
    counted apart from ``approve`` in the metrics.

    Raises:
        InvalidInputError, PermissionDeniedError, NotFoundError, ConflictError: from
            :func:`request` or the control plane (nothing was decided).
    """
    asked = request(approver_id, gate_id, decision, edited_args=edited_args, reason=reason)
    with state.decide_lock:
        outcome = state.plane.decide(
            asked.gate_id,
            asked.decision,
            asked.approver_id,
            edited_args=asked.edited_args,
            reason=asked.reason,
        )
    metrics.approval_decided(decision)
    return outcome


@dataclass(frozen=True, slots=True)
class DecisionItem:
    """One decision of :func:`decide_many`: the arguments of :func:`decide` but the approver."""

    gate_id: str
    decision: str
    edited_args: Mapping[str, Any] | None = None
    reason: str | None = None


def decide_many(
    state: ServiceState, approver_id: str, items: Sequence[DecisionItem]
) -> list[GateDecision | TailguardError]:
    """Decide several gates as ``approver_id`` in one transaction (an inbox's "decide the
    selected"): :meth:`ControlPlane.decide_many`.

    Each item gets, in order, what :func:`decide` would give it: the recorded decision, or the
    error it would raise (nothing recorded for that item; the others are still decided). Each
    recorded decision is counted in the metrics as :func:`decide` counts it.

    Raises:
        LedgerError: the database failed (the decisions' transaction is all or nothing).
    """
    asked: list[DecisionRequest | TailguardError] = []
    for item in items:
        try:
            asked.append(
                request(
                    approver_id,
                    item.gate_id,
                    item.decision,
                    edited_args=item.edited_args,
                    reason=item.reason,
                )
            )
        except TailguardError as exc:
            asked.append(exc)
    valid = [a for a in asked if isinstance(a, DecisionRequest)]
    with state.decide_lock:
        decided = iter(state.plane.decide_many(valid) if valid else [])
    outcomes = [a if isinstance(a, TailguardError) else next(decided) for a in asked]
    for item, outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, GateDecision):
            metrics.approval_decided(item.decision)
    return outcomes


@dataclass(frozen=True, kw_only=True, slots=True)
class Resumed:
    """What the run did after a decision.

    Attributes:
        result: the approved call, run once here (None when it was not run here).
        reply: the role agent's turn, when the agent carried its run on.
        error: why the run could not resume here (the decision stays recorded; any process
            holding the tool can resume the gate later).
        elsewhere: the approved tool is not registered in this service (an area agent's
            intervention, say): the process that holds it (``tailguard agents run``) resumes
            the gate when it next reconciles its gates; nothing was claimed here.
    """

    result: StepResult | None = None
    reply: AgentReply | None = None
    error: TailguardError | None = None
    elsewhere: bool = False


def resume_decided(state: ServiceState, decided: GateDecision, *, through_agent: bool) -> Resumed:
    """Resume the run of a decided gate; a rejected call never runs.

    With ``through_agent``, a role agent's run resumes through the agent (approved calls run,
    rejected ones are reported to the model, the turn goes on); otherwise the approved call
    runs in the service's control plane and the run waits for its caller.
    """
    try:
        if through_agent and is_chat_run(state, decided.run_id):
            return Resumed(reply=chat_stack(state).agent.resume(decided.run_id))
        if decided.decision != "approved":
            return Resumed()
        if decided.tool_name not in state.registry:
            return Resumed(elsewhere=True)
        return Resumed(result=state.plane.resume(decided.gate_id))
    except TailguardError as exc:
        return Resumed(error=exc)
