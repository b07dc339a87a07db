"""The approvals inbox: pending gates, and decisions that go through the control plane.

A decision is :meth:`ControlPlane.decide` with the caller's key name as the approver (so the
control plane refuses a person deciding a gate of a run they started or asked for, and records
who decided), followed on approval by :meth:`ControlPlane.resume`, which runs the approved call
exactly once: the operations the dashboard's inbox shares (:mod:`tailguard.service.approvals`).
``POST /v1/approvals`` takes several decisions in one transaction
(:meth:`ControlPlane.decide_many`), each answered as the single route would answer it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from tailguard.clock import format_ts
from tailguard.control import GateDecision
from tailguard.errors import InvalidInputError, TailguardError
from tailguard.service import approvals, queries
from tailguard.service.api.deps import Approver, State, Viewer
from tailguard.service.api.models import (
    CancelIn,
    DecisionIn,
    DecisionOut,
    DecisionRefusedOut,
    DecisionsIn,
    DecisionsOut,
    EditIn,
    EditItemIn,
    PendingApproval,
    StepResultOut,
)
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


@router.get("", summary="Pending approvals, oldest first")
def list_pending(
    state: State,
    who: Viewer,
    tool_name: Annotated[str | None, Query(max_length=255)] = None,
    run_id: Annotated[str | None, Query(max_length=255)] = None,
    risk_level: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[
        Literal["pending", "awaiting_execution"],
        Query(
            description="pending (default): gates waiting for a decision, oldest first; "
            "awaiting_execution: approved calls that never ran (resume or cancel them), "
            "oldest decision first."
        ),
    ] = "pending",
    limit: LimitParam = 50,
    cursor: CursorParam = None,
) -> Page[PendingApproval]:
    """Gates waiting for a decision and not timed out, or approved calls that never ran;
    full arguments for approvers only."""
    list_name = "approvals" if status == "pending" else "approvals_awaiting"
    key = decode_cursor(list_name, cursor, 2)
    after: tuple[float, str] | None = None
    if key is not None:
        if not isinstance(key[0], int | float) or not isinstance(key[1], str):
            raise InvalidInputError("invalid cursor", details={"cursor": cursor})
        after = (float(key[0]), key[1])
    now = state.settings.clock.now()
    filters = {"tool_name": tool_name, "run_id": run_id, "risk_level": risk_level}
    if status == "pending":
        rows = queries.pending_gates(state.ledger, now=now, limit=limit + 1, after=after, **filters)
    else:
        rows = queries.awaiting_gates(state.ledger, limit=limit + 1, after=after, **filters)
    show_args = who.role.allows(Role.APPROVER)
    items = [
        approvals.pending_approval(state, row, now=now, full_args=show_args) for row in rows[:limit]
    ]
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        at = last.presented_at if status == "pending" else last.decided_at
        nxt = encode_cursor(list_name, [at, last.gate_id])
    return Page[PendingApproval](items=items, next_cursor=nxt)


@router.post(
    "/{gate_id}/resume",
    summary="Run an approved call that never ran",
    responses=responses(404, 409),
)
def resume(state: State, who: Approver, gate_id: GateIdPath, request: Request) -> StepResultOut:
    """Run the approved call of a gate now, exactly once across all processes.

    For a call the inbox lists as ``awaiting_execution`` (the process that approved it stopped
    before running it). A call that already ran (or was cancelled) answers its stored result
    with ``replayed: true`` and runs nothing; 409 for a gate not approved or a call running
    elsewhere; 404 for a tool this service does not hold.
    """
    result = state.plane.resume(gate_id)
    request.state.run_id = result.run_id
    return step_result(result)


@router.post(
    "/{gate_id}/cancel",
    summary="Cancel an approved call that never ran",
    responses=responses(404, 409),
)
def cancel(
    state: State, who: Approver, gate_id: GateIdPath, body: CancelIn, request: Request
) -> StepResultOut:
    """Cancel the approved call of a gate that has not run: it never runs.

    The decision stays recorded; the step is recorded ``rejected`` with who cancelled it and
    why. 409 when the call already ran, is running, or the gate is not approved; 403 for the
    person who started the run or asked for the call.
    """
    result = state.plane.cancel_approved(gate_id, who.subject, reason=body.reason)
    request.state.run_id = result.run_id
    return step_result(result)


@router.post(
    "",
    summary="Decide several pending gates at once",
    responses=responses(404, 409),
)
def decide_many(state: State, who: Approver, body: DecisionsIn) -> DecisionsOut:
    """Decide the gates as the caller in one transaction (an inbox's "decide the selected").

    Each item is decided as ``POST /v1/approvals/{gate_id}`` would decide it, in request order
    (a gate named twice is decided once; the second item is a conflict). A refused item records
    nothing and answers its error, with the code the single route would give as its status;
    the others are still decided. Approved calls then run at once (each exactly once).
    """
    items = [
        approvals.DecisionItem(
            item.gate_id,
            item.decision,
            edited_args=item.args if isinstance(item, EditItemIn) else None,
            reason=item.reason,
        )
        for item in body.decisions
    ]
    outcomes = approvals.decide_many(state, who.subject, items)
    results: list[DecisionOut | DecisionRefusedOut] = []
    for item, outcome in zip(items, outcomes, strict=True):
        if isinstance(outcome, TailguardError):
            results.append(
                DecisionRefusedOut(gate_id=item.gate_id, error=ErrorBody(**outcome.to_dict()))
            )
        else:
            results.append(_decided(state, outcome))
    return DecisionsOut(results=results)


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
    return _decided(state, decision)


def _decided(state: ServiceState, decision: GateDecision) -> DecisionOut:
    """A recorded decision, its run resumed as the API resumes it (the call, not the agent)."""
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
