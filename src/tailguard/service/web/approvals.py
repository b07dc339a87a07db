"""The approvals inbox: pending gates as cards, decided through the control plane.

A decision here is the same operation as over the API (:mod:`tailguard.service.approvals`):
:meth:`ControlPlane.decide` with the signed-in person as the approver (the control plane
refuses a person deciding a gate of a run they started and records who decided), then, on
approval, the run resumes. A plain run resumes with :meth:`ControlPlane.resume` (the approved
call runs exactly once); a role agent's run resumes through the agent, which runs the call and
carries the conversation on to its answer.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from tailguard.control import queries as control_queries
from tailguard.errors import InvalidInputError
from tailguard.service import approvals, queries
from tailguard.service.api.models import PendingApproval
from tailguard.service.auth import Role
from tailguard.service.settings import ServiceState
from tailguard.service.web.render import guarded, guarded_post, render, render_text
from tailguard.service.web.session import WebSession, redirect_with_flash, service_state

router = APIRouter()

MAX_CARDS = 200


class GateCard(PendingApproval):
    """What an approver sees of one pending gate: the API's pending approval, and its run."""

    role: str | None
    goal_text: str | None
    expires_in_s: float | None
    other_fields: tuple[str, ...]


def pending_cards(state: ServiceState, *, full_args: bool) -> list[GateCard]:
    """Pending, unexpired gates, oldest first; full arguments only for ``full_args``."""
    now = state.settings.clock.now()
    rows = queries.pending_gates(state.ledger, now=now, limit=MAX_CARDS)
    runs = {
        run_id: found.run
        for run_id, found in control_queries.runs_by_id(
            state.ledger.engine, {row.run_id for row in rows}
        ).items()
    }
    cards = []
    for row in rows:
        item = approvals.pending_approval(state, row, now=now, full_args=full_args)
        run = runs.get(row.run_id)
        cards.append(
            GateCard(
                **dict(item),
                role=run.role if run is not None else None,
                goal_text=run.goal_text if run is not None else None,
                expires_in_s=None
                if row.expires_at is None
                else max(0.0, row.expires_at - now.timestamp()),
                other_fields=tuple(
                    sorted(k for k in json.loads(row.args_json) if k not in item.audit_args)
                ),
            )
        )
    return cards


def _parse_edit(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"the edited arguments are not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise InvalidInputError("the edited arguments must be a JSON object")
    return value


def decide_gate(
    state: ServiceState,
    approver_id: str,
    gate_id: str,
    decision: str,
    *,
    reason: str | None,
    edited_text: str | None = None,
) -> str:
    """Decide a gate as ``approver_id`` and resume its run; returns what happened, for people.

    ``decision`` is ``approve``, ``reject`` or ``edit`` (approve with the fields of
    ``edited_text``, a JSON object, replacing the call's; fields left out keep their values).

    Raises:
        InvalidInputError, PermissionDeniedError, NotFoundError, ConflictError: from the
            control plane (nothing was decided).
    """
    if decision not in ("approve", "reject", "edit"):
        raise InvalidInputError(f"unknown decision {decision!r}")
    call = state.plane.gates.get(gate_id)
    edited = {**call.args, **_parse_edit(edited_text)} if decision == "edit" else None
    outcome = approvals.decide(
        state, approver_id, gate_id, decision, edited_args=edited, reason=reason or None
    )
    verb = {"approve": "Approved", "reject": "Rejected", "edit": "Edited and approved"}[decision]
    head = f"{verb} {outcome.tool_name}."
    resumed = approvals.resume_decided(state, outcome, through_agent=True)
    if resumed.elsewhere:
        return (
            f"{head} The agent that owns {outcome.tool_name} runs it when it next checks its "
            "gates (area agents: within a minute while `tailguard agents run` is up)."
        )
    if resumed.error is not None:
        return f"{head} The run could not resume here: {resumed.error.message}"
    if resumed.reply is not None:
        return f"{head} Run {resumed.reply.run_id} resumed and is now {resumed.reply.status}."
    result = resumed.result
    if result is None:
        return f"{head} The call will never run."
    if result.ok:
        return f"{head} Run {result.run_id} resumed: {result.tool_name} executed."
    return f"{head} Run {result.run_id} resumed: {result.tool_name} {result.outcome.value}" + (
        f" ({result.reason})" if result.reason else ""
    )


def awaiting_items(state: ServiceState, *, full_args: bool) -> list[PendingApproval]:
    """Approved calls that never ran (their process stopped first), oldest decision first."""
    now = state.settings.clock.now()
    rows = queries.awaiting_gates(state.ledger, limit=MAX_CARDS)
    return [approvals.pending_approval(state, row, now=now, full_args=full_args) for row in rows]


@router.get("/approvals", include_in_schema=False)
def inbox(request: Request) -> Response:
    """The approvals inbox."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        can = session.principal.role.allows(Role.APPROVER)
        cards = pending_cards(state, full_args=can)
        return render(
            request,
            "approvals.html",
            session,
            cards=cards,
            awaiting=awaiting_items(state, full_args=can),
            can_decide=can,
        )

    return guarded(request, Role.VIEWER, page)


@router.post("/approvals/{gate_id}/{action}", include_in_schema=False)
async def resume_or_cancel(request: Request, gate_id: str, action: str) -> Response:
    """Run, or cancel, an approved call that never ran; then go back to the inbox."""
    form = await request.form()

    def act(session: WebSession) -> Response:
        state = service_state(request)
        if action == "resume":
            result = state.plane.resume(gate_id)
            message = f"Resumed {result.tool_name}: {result.outcome.value}" + (
                " (it had already run)." if result.replayed else "."
            )
        elif action == "cancel":
            reason = str(form.get("reason") or "").strip() or None
            result = state.plane.cancel_approved(gate_id, session.principal.subject, reason=reason)
            message = f"Cancelled {result.tool_name}: it will never run."
        else:
            raise InvalidInputError(f"unknown action {action!r}")
        return redirect_with_flash(request, "/approvals", message)

    return guarded_post(request, Role.APPROVER, dict(form), act)


@router.get("/approvals/feed.json", include_in_schema=False)
def feed(request: Request) -> Response:
    """The inbox's live feed: each pending gate's id and its card, for the page's poller."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        can = session.principal.role.allows(Role.APPROVER)
        cards = pending_cards(state, full_args=can)
        items = [
            {
                "gate_id": c.gate_id,
                "html": render_text(
                    "_gate_card.html",
                    c=c,
                    can_decide=can,
                    csrf=session.csrf,
                    me=session.principal,
                ),
            }
            for c in cards
        ]
        return JSONResponse(
            {"count": len(items), "gates": items}, headers={"Cache-Control": "no-store"}
        )

    session_or_redirect = guarded(request, Role.VIEWER, page)
    if isinstance(session_or_redirect, RedirectResponse):  # a poll after the session ended
        return JSONResponse({"error": "signed out"}, status_code=401)
    return session_or_redirect


@router.post("/approvals/{gate_id}", include_in_schema=False)
async def decide(request: Request, gate_id: str) -> Response:
    """Approve, reject, or edit and approve one gate, then go back to the inbox."""
    form = await request.form()

    def action(session: WebSession) -> Response:
        state = service_state(request)
        decision = str(form.get("decision") or "")
        message = decide_gate(
            state,
            session.principal.subject,
            gate_id,
            decision,
            reason=str(form.get("reason") or "").strip() or None,
            edited_text=str(form.get("args") or "") if decision == "edit" else None,
        )
        return redirect_with_flash(request, str(form.get("back") or "/approvals"), message)

    return guarded_post(request, Role.APPROVER, dict(form), action)
