"""The approvals inbox: pending gates, and decisions that go through the control plane.

A decision is :meth:`ControlPlane.decide` with the caller's key name as the approver (so the
control plane refuses a person deciding a gate of a run they started or asked for, and records
who decided), followed on approval by :meth:`ControlPlane.resume`, which runs the approved call
exactly once: the operations the dashboard's inbox shares (:mod:`tailguard.service.approvals`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from tailguard.clock import format_ts
from tailguard.errors import InvalidInputError
from tailguard.service import approvals, queries
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

router = APIRouter(prefix="/v1/approvals", tags=["approvals"], responses=ERROR_RESPONSES)

GateIdPath = Annotated[str, Path(min_length=1, max_length=64)]


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
    items = [
        approvals.pending_approval(state, row, now=now, full_args=show_args) for row in rows[:limit]
    ]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = encode_cursor("approvals", [last.presented_at, last.gate_id])
    return Page[PendingApproval](items=items, next_cursor=nxt)


@router.post(
    "/{gate_id}",
    summary="Approve, reject, or edit and approve a pending gate",
    responses=responses(404, 409),
)
def decide(
    state: State, who: Approver, gate_id: GateIdPath, body: DecisionIn, request: Request
) -> DecisionOut:
    """Decide a gate as the caller; on approval the call runs at once (exactly once)."""
    decision = approvals.decide(
        state,
        who.subject,
        gate_id,
        body.decision,
        edited_args=body.args if isinstance(body, EditIn) else None,
        reason=body.reason,
    )
    request.state.run_id = decision.run_id
    out = DecisionOut(**{**asdict(decision), "decided_at": format_ts(decision.decided_at)})
    # The decision is recorded whatever happens next; a resumption that cannot run here (no
    # handler loaded in this process, another process running it) is reported, and any process
    # with the tool can resume the gate later.
    resumed = approvals.resume_decided(state, decision, through_agent=False)
    if resumed.result is not None:
        out.resumed = step_result(resumed.result)
    if resumed.error is not None:
        out.resume_error = ErrorBody(**resumed.error.to_dict())
    out.resumes_elsewhere = resumed.elsewhere
    return out
