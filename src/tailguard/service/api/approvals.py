"""The approvals inbox: pending gates, and decisions that go through the control plane.

A decision is :meth:`ControlPlane.decide` with the caller's key name as the approver (so the
control plane refuses a person deciding a gate of a run they started or asked for, and records
who decided), followed on approval by :meth:`ControlPlane.resume`, which runs the approved call
exactly once.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from tailguard.clock import format_ts
from tailguard.errors import InvalidInputError, TailguardError
from tailguard.service import metrics, queries
from tailguard.service.api.deps import Approver, State, Viewer
from tailguard.service.api.models import DecisionIn, DecisionOut, EditIn, PendingApproval
from tailguard.service.api.runs import step_result
from tailguard.service.auth import Role
from tailguard.service.errors import ERROR_RESPONSES, ErrorBody, responses
from tailguard.service.pagination import (
    CursorParam,
    LimitParam,
    Page,
    decode_cursor,
    encode_cursor,
)
from tailguard.service.settings import ServiceState

router = APIRouter(prefix="/v1/approvals", tags=["approvals"], responses=ERROR_RESPONSES)

GateIdPath = Annotated[str, Path(min_length=1, max_length=64)]


def _audit_fields(state: ServiceState, tool_name: str) -> tuple[str, ...]:
    if tool_name in state.registry:
        return state.registry.policy(tool_name).audit_fields
    policy = state.policies.get(tool_name)
    return policy.audit_fields if policy is not None else ()


@router.get("", summary="Pending approvals, oldest first")
def list_pending(
    state: State,
    who: Viewer,
    tool_name: Annotated[str | None, Query(max_length=255)] = None,
    run_id: Annotated[str | None, Query(max_length=255)] = None,
    risk_level: Annotated[str | None, Query(max_length=32)] = None,
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[PendingApproval]:
    """Gates waiting for a decision and not timed out; full arguments for approvers only."""
    key = decode_cursor("approvals", cursor, 2)
    after: tuple[float, str] | None = None
    if key is not None:
        if not isinstance(key[0], int | float) or not isinstance(key[1], str):
            raise InvalidInputError("invalid cursor", details={"cursor": cursor})
        after = (float(key[0]), key[1])
    now = state.settings.clock.now()
    rows = queries.pending_gates(
        state.ledger,
        now=now,
        limit=limit + 1,
        after=after,
        tool_name=tool_name,
        run_id=run_id,
        risk_level=risk_level,
    )
    show_args = who.role.allows(Role.APPROVER)
    items = []
    for row in rows[:limit]:
        args: dict[str, Any] = json.loads(row.args_json)
        audit = {k: args[k] for k in _audit_fields(state, row.tool_name) if k in args}
        presented = row.presented_at
        items.append(
            PendingApproval(
                gate_id=row.gate_id,
                run_id=row.run_id,
                step_id=row.step_id,
                tool_name=row.tool_name,
                risk_level=row.risk_level,
                reason=row.reason,
                requester_id=row.requester_id,
                initiator_id=row.initiator_id,
                presented_at=format_ts(_dt(presented)),
                expires_at=format_ts(_dt(row.expires_at)) if row.expires_at is not None else None,
                age_s=max(0.0, now.timestamp() - presented),
                audit_args=audit,
                args=args if show_args else None,
            )
        )
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = encode_cursor("approvals", [last.presented_at, last.gate_id])
    return Page[PendingApproval](items=items, next_cursor=nxt)


def _dt(ts: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)


@router.post(
    "/{gate_id}",
    summary="Approve, reject, or edit and approve a pending gate",
    responses=responses(404, 409),
)
def decide(
    state: State, who: Approver, gate_id: GateIdPath, body: DecisionIn, request: Request
) -> DecisionOut:
    """Decide a gate as the caller; on approval the call runs at once (exactly once)."""
    with state.decide_lock:
        decision = state.plane.decide(
            gate_id,
            "reject" if body.decision == "reject" else "approve",
            who.subject,
            edited_args=body.args if isinstance(body, EditIn) else None,
            reason=body.reason,
        )
    request.state.run_id = decision.run_id
    metrics.approval_decided(body.decision)
    out = DecisionOut(
        gate_id=decision.gate_id,
        run_id=decision.run_id,
        step_id=decision.step_id,
        tool_name=decision.tool_name,
        decision=decision.decision,
        decided_by=decision.decided_by,
        decided_at=format_ts(decision.decided_at),
        reason=decision.reason,
        edited=decision.edited,
    )
    if decision.decision == "approved":
        # The decision is recorded whatever happens next; a resumption that cannot run here
        # (no handler loaded in this process, another process running it) is reported, and any
        # process with the tool can resume the gate later.
        try:
            out.resumed = step_result(state.plane.resume(gate_id))
        except TailguardError as exc:
            out.resume_error = ErrorBody(**exc.to_dict())
    return out
