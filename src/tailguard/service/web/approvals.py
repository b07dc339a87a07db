"""The approvals inbox: pending gates as cards, decided through the control plane.

A decision here is the same as over the API: :meth:`ControlPlane.decide` with the signed-in
person as the approver (the control plane refuses a person deciding a gate of a run they
started and records who decided), then, on approval, the run resumes. A plain run resumes with
:meth:`ControlPlane.resume` (the approved call runs exactly once); a role agent's run resumes
through the agent, which runs the call and carries the conversation on to its answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from tailguard.control.policy import Policy
from tailguard.control.store import runs as run_table
from tailguard.errors import InvalidInputError, TailguardError
from tailguard.service import metrics, queries
from tailguard.service.auth import Role
from tailguard.service.settings import ServiceState
from tailguard.service.web.chatstack import is_chat_run, web_chat
from tailguard.service.web.render import guarded, guarded_post, render, render_text
from tailguard.service.web.session import WebSession, redirect_with_flash, service_state

router = APIRouter()

MAX_CARDS = 200


@dataclass(frozen=True, kw_only=True, slots=True)
class GateCard:
    """What an approver sees of one pending gate."""

    gate_id: str
    run_id: str
    step_id: str
    tool_name: str
    risk_level: str
    reason: str
    requester_id: str
    initiator_id: str
    role: str | None
    goal_text: str | None
    presented_at: datetime
    expires_at: datetime | None
    age_s: float
    expires_in_s: float | None
    audit_args: dict[str, Any]
    other_fields: tuple[str, ...]
    args: dict[str, Any] | None


def _policy(state: ServiceState, tool_name: str) -> Policy | None:
    if tool_name in state.registry:
        return state.registry.policy(tool_name)
    return state.policies.get(tool_name)


def audit_fields(state: ServiceState, tool_name: str) -> tuple[str, ...]:
    """The fields of ``tool_name``'s arguments that its policy shows in clear."""
    policy = _policy(state, tool_name)
    if policy is not None:
        return tuple(policy.audit_fields)
    if state.extras.get("web.chat") is not None:
        chat = web_chat(state)
        if tool_name in chat.control.registry:
            return tuple(chat.control.registry.policy(tool_name).audit_fields)
    return ()


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def pending_cards(state: ServiceState, *, full_args: bool) -> list[GateCard]:
    """Pending, unexpired gates, oldest first; full arguments only for ``full_args``."""
    now = state.settings.clock.now()
    rows = queries.pending_gates(state.ledger, now=now, limit=MAX_CARDS)
    run_ids = sorted({row.run_id for row in rows})
    runs: dict[str, Any] = {}
    if run_ids:
        with state.ledger.engine.connect() as conn:
            for r in conn.execute(
                sa.select(run_table.c.run_id, run_table.c.role, run_table.c.goal_text).where(
                    run_table.c.run_id.in_(run_ids)
                )
            ):
                runs[r.run_id] = r
    cards = []
    for row in rows:
        args: dict[str, Any] = json.loads(row.args_json)
        shown = audit_fields(state, row.tool_name)
        audit = {k: args[k] for k in shown if k in args}
        run = runs.get(row.run_id)
        cards.append(
            GateCard(
                gate_id=row.gate_id,
                run_id=row.run_id,
                step_id=row.step_id,
                tool_name=row.tool_name,
                risk_level=row.risk_level,
                reason=row.reason,
                requester_id=row.requester_id,
                initiator_id=row.initiator_id,
                role=run.role if run is not None else None,
                goal_text=run.goal_text if run is not None else None,
                presented_at=datetime.fromtimestamp(row.presented_at, UTC),
                expires_at=_ts(row.expires_at),
                age_s=max(0.0, now.timestamp() - row.presented_at),
                expires_in_s=None
                if row.expires_at is None
                else max(0.0, row.expires_at - now.timestamp()),
                audit_args=audit,
                other_fields=tuple(sorted(k for k in args if k not in audit)),
                args=args if full_args else None,
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
    chat = web_chat(state) if is_chat_run(state, call.run_id) else None
    plane = chat.control if chat is not None else state.plane
    outcome = plane.decide(
        gate_id,
        "reject" if decision == "reject" else "approve",
        approver_id,
        edited_args=edited,
        reason=reason or None,
    )
    metrics.approval_decided(decision)
    verb = {"approve": "Approved", "reject": "Rejected", "edit": "Edited and approved"}[decision]
    head = f"{verb} {outcome.tool_name}."
    try:
        if chat is not None:
            reply = chat.agent.resume(outcome.run_id)
            return f"{head} Run {reply.run_id} resumed and is now {reply.status}."
        if outcome.decision != "approved":
            return f"{head} The call will never run."
        result = state.plane.resume(gate_id)
    except TailguardError as exc:
        return f"{head} The run could not resume here: {exc.message}"
    if result.ok:
        return f"{head} Run {result.run_id} resumed: {result.tool_name} executed."
    return f"{head} Run {result.run_id} resumed: {result.tool_name} {result.outcome.value}" + (
        f" ({result.reason})" if result.reason else ""
    )


@router.get("/approvals", include_in_schema=False)
def inbox(request: Request) -> Response:
    """The approvals inbox."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        cards = pending_cards(state, full_args=session.principal.role.allows(Role.APPROVER))
        return render(
            request,
            "approvals.html",
            session,
            cards=cards,
            can_decide=session.principal.role.allows(Role.APPROVER),
        )

    return guarded(request, Role.VIEWER, page)


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
