"""Chat pages, one per role: the conversation, tool activity, and approval cards in place.

A message runs one turn of the role agent (:class:`tailguard.roles.loop.RoleAgent`) through
the control plane. When the run pauses at an approval gate the page shows the card (tool, risk,
arguments, approve / reject) where the conversation stopped; deciding it goes through the same
path as the approvals inbox, and the agent carries the run on to its answer.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response

from tailguard.errors import NotFoundError, TailguardError
from tailguard.roles.conversations import conversations as conversation_table
from tailguard.roles.fieldservice.domain import ROLE_SPECS as OPS_ROLE_SPECS
from tailguard.roles.fieldservice.session import OpsStack
from tailguard.roles.recruiting.roles import ROLE_SPECS, role_spec
from tailguard.roles.session import ChatStack
from tailguard.service.auth import Principal, Role
from tailguard.service.chatstack import chat_stack, ops_stack
from tailguard.service.settings import ServiceState
from tailguard.service.web.approvals import decide_gate
from tailguard.service.web.render import guarded, guarded_post, render
from tailguard.service.web.session import WebSession, redirect_with_flash, service_state

router = APIRouter()

EXAMPLES: dict[str, tuple[str, ...]] = {
    "driver": ("Find carriers near 75001 paying over $0.55 CPM", "Show my stats"),
    "recruiter": (
        "Show my pipeline and update John to interview stage",
        'Message John saying "Are you free for a call tomorrow at 10?"',
    ),
    "carrier": ("Show signals for account ACC-001", "Show hiring benchmarks"),
    "admin": ("Check system health", "Show agent KPIs"),
    "ops_manager": (
        "Why did PA-0004 get a surge window yesterday, and did it work?",
        "Show the pulse and the tails",
    ),
    "ops_analyst": ("Show the interventions of PA-0001", "Show this week's OKRs"),
}

#: The operations roles' one-line purpose (the chat index).
OPS_PURPOSE = {
    "ops_manager": "Operations manager: asks about the network's areas, tails, interventions "
    "and OKRs, and decides approvals, all through governed tools.",
    "ops_analyst": "Operations analyst: the same reads, no decisions.",
}

Stack = ChatStack | OpsStack


def stack_for(state: ServiceState, role: str) -> Stack:
    """The chat stack that serves ``role``: the field-service operations roles, or the
    trucking-recruiting reference domain's roles.

    Raises:
        NotFoundError: an unknown role.
    """
    if role in OPS_ROLE_SPECS:
        return ops_stack(state)
    role_spec(role)
    return chat_stack(state)


def speaker(chat: Stack, role: str, principal: Principal) -> str:
    """Who the page speaks as: the signed-in person when they are a user of this role in the
    dataset (any signed-in person for the operations roles), else the role's demo user."""
    if isinstance(chat, OpsStack):
        return principal.name
    try:
        chat.store.user(principal.name, role=role)
    except TailguardError:
        return role_spec(role).default_user
    return principal.name


def _conversation(chat: Stack, conversation_id: str | None, role: str, user_id: str) -> str | None:
    if not conversation_id:
        return None
    c = conversation_table.c
    with chat.conversations.engine.connect() as conn:
        hit = conn.execute(
            sa.select(c.conversation_id).where(
                c.conversation_id == conversation_id, c.role == role, c.user_id == user_id
            )
        ).first()
    if hit is None:
        raise NotFoundError(f"no {role} conversation {conversation_id!r} of {user_id}")
    return conversation_id


def _recent(chat: Stack, role: str, user_id: str) -> list[dict[str, Any]]:
    c = conversation_table.c
    with chat.conversations.engine.connect() as conn:
        rows = conn.execute(
            sa.select(c.conversation_id, c.created_at)
            .where(c.role == role, c.user_id == user_id)
            .order_by(c.created_at.desc())
            .limit(8)
        ).all()
    return [dict(r._mapping) for r in rows]


def _tool_text(text: str) -> str:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text[:300]
    if isinstance(value, dict):
        for key in ("summary", "error", "message"):
            if isinstance(value.get(key), str):
                return str(value[key])
        return ", ".join(sorted(str(k) for k in value))[:300]
    if isinstance(value, list):
        return f"{len(value)} items"
    return str(value)[:300]


def thread(chat: Stack, conversation_id: str) -> list[dict[str, Any]]:
    """The conversation as display items: user and assistant messages, tool calls, results."""
    items: list[dict[str, Any]] = []
    for turn in chat.conversations.turns(conversation_id):
        m = turn.message
        if m.role == "user":
            items.append({"kind": "user", "text": m.text})
        elif m.role == "assistant":
            if m.text.strip():
                items.append({"kind": "assistant", "text": m.text})
            for call in m.tool_calls:
                items.append({"kind": "call", "tool": call.name, "args": dict(call.arguments)})
        else:
            items.append(
                {
                    "kind": "result",
                    "tool": m.tool_name,
                    "text": _tool_text(m.text),
                    "error": m.is_error,
                }
            )
    return items


def pending_cards(chat: Stack, conversation_id: str) -> list[dict[str, Any]]:
    """The approval cards of the conversation's paused run."""
    cards = []
    for run_id in chat.conversations.waiting_runs(conversation_id):
        state = chat.conversations.state(run_id)
        for p in state.pending:
            gate = chat.control.gates.get(p.gate_id)
            if gate.decision != "pending":
                continue
            cards.append(
                {
                    "gate_id": gate.gate_id,
                    "run_id": gate.run_id,
                    "tool": gate.tool_name,
                    "risk_level": gate.risk_level,
                    "args": gate.args,
                    "reason": gate.reason,
                    "requester": gate.requester_id,
                    "expires_at": gate.expires_at,
                }
            )
    return cards


@router.get("/chat", include_in_schema=False)
def chat_index(request: Request) -> Response:
    """The roles one can talk to."""

    def page(session: WebSession) -> Response:
        roles = [
            {"name": name, "prompt": spec.base_prompt, "examples": EXAMPLES.get(name, ())}
            for name, spec in ROLE_SPECS.items()
        ]
        ops = [
            {"name": name, "prompt": OPS_PURPOSE.get(name, ""), "examples": EXAMPLES.get(name, ())}
            for name in OPS_ROLE_SPECS
        ]
        return render(request, "chat_index.html", session, roles=roles, ops_roles=ops)

    return guarded(request, Role.VIEWER, page)


@router.get("/chat/{role}", include_in_schema=False)
def chat_page(request: Request, role: str) -> Response:
    """One role's conversation."""

    def page(session: WebSession) -> Response:
        chat = stack_for(service_state(request), role)
        user_id = speaker(chat, role, session.principal)
        cid = _conversation(chat, request.query_params.get("conversation"), role, user_id)
        return render(
            request,
            "chat.html",
            session,
            role=role,
            user_id=user_id,
            conversation_id=cid,
            items=thread(chat, cid) if cid else [],
            cards=pending_cards(chat, cid) if cid else [],
            recent=_recent(chat, role, user_id),
            examples=EXAMPLES.get(role, ()),
            can_send=session.principal.role.allows(Role.OPERATOR),
            can_decide=session.principal.role.allows(Role.APPROVER),
            stand_in=chat.agent.provider.name.startswith("scripted"),
        )

    return guarded(request, Role.VIEWER, page)


@router.post("/chat/{role}", include_in_schema=False)
async def chat_send(request: Request, role: str) -> Response:
    """Send a message to the role's agent; back to the conversation."""
    form = await request.form()

    def action(session: WebSession) -> Response:
        chat = stack_for(service_state(request), role)
        user_id = speaker(chat, role, session.principal)
        cid = _conversation(chat, str(form.get("conversation") or ""), role, user_id)
        message = str(form.get("message") or "").strip()
        back = f"/chat/{role}" + (f"?conversation={cid}" if cid else "")
        try:
            reply = chat.agent.send(
                role=role, user_id=user_id, message=message, conversation_id=cid
            )
        except TailguardError as exc:
            return redirect_with_flash(request, back, exc.message, ok=False)
        return redirect_with_flash(
            request,
            f"/chat/{role}?conversation={reply.conversation_id}",
            "Waiting for approval."
            if reply.status == "waiting_approval"
            else f"Run {reply.status}.",
            ok=True,
        )

    return guarded_post(request, Role.OPERATOR, dict(form), action)


@router.post("/chat/{role}/decide", include_in_schema=False)
async def chat_decide(request: Request, role: str) -> Response:
    """Approve or reject the card shown in the conversation; the run carries on."""
    form = await request.form()

    def action(session: WebSession) -> Response:
        stack_for(service_state(request), role)
        message = decide_gate(
            service_state(request),
            session.principal.subject,
            str(form.get("gate_id") or ""),
            str(form.get("decision") or ""),
            reason=str(form.get("reason") or "").strip() or None,
        )
        cid = str(form.get("conversation") or "")
        return redirect_with_flash(request, f"/chat/{role}?conversation={cid}", message)

    return guarded_post(request, Role.APPROVER, dict(form), action)
