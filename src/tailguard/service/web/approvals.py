"""The approvals inbox: a dense table of pending gates, decided one by one or many at once.

What each row shows (the call in plain words, trigger, budget left, edit form from the tool's
JSON Schema) is built in :mod:`.inbox`.

A decision here is the same operation as over the API (:mod:`tailguard.service.approvals`):
:meth:`ControlPlane.decide` with the signed-in person as the approver (the control plane
refuses a person deciding a gate of a run they started and records who decided), then, on
approval, the run resumes. A plain run resumes with :meth:`ControlPlane.resume` (the approved
call runs exactly once); a role agent's run resumes through the agent, which runs the call and
carries the conversation on to its answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from tailguard.control import queries as control_queries
from tailguard.control.delegation import review_notes
from tailguard.errors import InvalidInputError, TailguardError
from tailguard.learning import SelfLearnStore
from tailguard.learning.policy import ThompsonModel
from tailguard.service import approvals, queries
from tailguard.service.api.models import PendingApproval
from tailguard.service.auth import Role
from tailguard.service.settings import ServiceState
from tailguard.service.web.inbox import (
    FormField,
    InboxFilter,
    amount_of,
    args_of_form,
    describe,
    form_fields,
    trigger_text,
    week_start,
)
from tailguard.service.web.render import guarded, guarded_post, render, render_text
from tailguard.service.web.session import WebSession, redirect_with_flash, service_state

router = APIRouter()

MAX_CARDS = 1000


class GateCard(PendingApproval):
    """What an approver sees of one pending gate: the API's pending approval, its run, and the
    call in plain words with its area, amount, trigger, budget and policy note."""

    role: str | None
    goal_text: str | None
    expires_in_s: float | None
    other_fields: tuple[str, ...]
    area_id: str | None = None
    action: str = ""
    amount_usd: float | None = None
    trigger: str | None = None
    budget_left_usd: float | None = None
    budget_usd: float | None = None
    policy_note: str | None = None
    expected: float | None = None
    expected_text: str | None = None
    expected_title: str | None = None
    fields: tuple[FormField, ...] = ()


def pending_cards(
    state: ServiceState, *, full_args: bool, where: InboxFilter | None = None
) -> list[GateCard]:
    """Pending, unexpired gates, oldest first; full arguments only for ``full_args``."""
    now = state.settings.clock.now()
    rows = queries.pending_gates(state.ledger, now=now, limit=MAX_CARDS)
    learning = SelfLearnStore(state.ledger.engine)
    decisions = learning.for_gates([r.gate_id for r in rows]) if rows else {}
    spent = learning.spend_since(week_start(now)) if decisions else {}
    notes = review_notes(state.plane, [r.gate_id for r in rows])
    model = _active_policy(state) if decisions else None
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
        args = json.loads(row.args_json)
        decision = decisions.get(row.gate_id)
        area = (decision or {}).get("area_id") or area_of_initiator(row.initiator_id)
        amount = amount_of(args)
        if where is not None and not where.keeps(
            area=area, tool=row.tool_name, risk=row.risk_level, amount=amount
        ):
            continue
        budget = _budget(decision, spent)
        expected = expectation_of(model, decision)
        schema = (
            state.registry.tool(row.tool_name).parameters
            if row.tool_name in state.registry
            else None
        )
        cards.append(
            GateCard(
                **dict(item),
                role=run.role if run is not None else None,
                goal_text=run.goal_text if run is not None else None,
                expires_in_s=None
                if row.expires_at is None
                else max(0.0, row.expires_at - now.timestamp()),
                other_fields=tuple(sorted(k for k in args if k not in item.audit_args)),
                area_id=area,
                action=describe(row.tool_name, args if full_args else item.audit_args),
                amount_usd=amount if full_args or _money_audited(item.audit_args) else None,
                trigger=trigger_text(decision),
                budget_left_usd=None if budget is None else budget[0],
                budget_usd=None if budget is None else budget[1],
                policy_note=notes.get(row.gate_id),
                **expected,
                fields=tuple(form_fields(schema, args)) if full_args else (),
            )
        )
    return cards


def _active_policy(state: ServiceState) -> ThompsonModel | None:
    """The learning policy's version in force (None before the first update)."""
    from tailguard.learning.versions import PolicyStore

    try:
        return PolicyStore(state.ledger).active_model()
    except TailguardError:
        return None


def expectation_of(
    model: ThompsonModel | None, decision: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The inbox's "Expected" cell of a gate an area agent opened: what the learning policy in
    force expects the asked-for arm to do against holding, with its 80 % interval."""
    ctx = (decision or {}).get("context") or {}
    if model is None or not isinstance(ctx, Mapping):
        return {}
    group, bucket, arm = ctx.get("group"), ctx.get("bucket"), ctx.get("arm")
    if not (isinstance(group, str) and isinstance(bucket, str) and isinstance(arm, str)):
        return {}
    found = model.effect_vs_hold(group, bucket, arm)
    if found is None:
        return {}
    kpi = (decision or {}).get("outcome_kpi") or "its target KPI"
    return {
        "expected": found.mean,
        "expected_text": f"{found.mean:+.2f} ({found.lo80:+.2f} to {found.hi80:+.2f})",
        "expected_title": (
            f"Policy {found.version} expects this to move {kpi} by {found.mean:+.2f} robust "
            f"spreads against doing nothing (80 % interval {found.lo80:+.2f} to "
            f"{found.hi80:+.2f}; better is positive, net of its cost), from "
            f"{found.decisions:.0f} recent decisions like it in {bucket}; "
            f"chance it helps: {found.p_helps:.0%}"
        ),
    }


def _money_audited(audit_args: dict[str, Any]) -> bool:
    return amount_of(audit_args) is not None


def area_of_initiator(initiator_id: str) -> str | None:
    """The planning area of an area agent's run (``area-agent:<area>``)."""
    prefix = "area-agent:"
    return initiator_id[len(prefix) :] if initiator_id.startswith(prefix) else None


def _budget(
    decision: dict[str, Any] | None, spent: dict[tuple[str, str], float]
) -> tuple[float, float] | None:
    """(left, weekly budget) of the catalogue entry that asked, in its area this week."""
    if not decision:
        return None
    budget = _entry_budgets().get(str(decision["entry_id"]))
    if budget is None:
        return None
    used = spent.get((str(decision["area_id"]), str(decision["entry_id"])), 0.0)
    return max(0.0, budget - used), budget


@cache
def _entry_budgets() -> dict[str, float]:
    """Catalogue entry -> its weekly budget (the built-in catalogue, parsed once)."""
    from tailguard.agents.catalogue import default_catalogue

    return {
        e.id: float(e.weekly_budget_usd)
        for e in default_catalogue().entries
        if e.weekly_budget_usd is not None
    }


def _parse_edit(text: str | None) -> dict[str, Any]:
    """The arguments of the inbox's JSON editor."""
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
    edited_form: Mapping[str, Any] | None = None,
) -> str:
    """Decide a gate as ``approver_id`` and resume its run; returns what happened, for people.

    ``decision`` is ``approve``, ``reject`` or ``edit``: approve with the arguments of the
    form generated from the tool's JSON Schema (``edited_form``, its ``arg.<name>`` fields) or
    of the JSON editor (``edited_text``, a JSON object). An edit means what it means on the
    API (:func:`tailguard.service.approvals.decide`): those are the whole arguments the call
    runs with, checked against the tool's schema and recorded alike.

    Raises:
        InvalidInputError, PermissionDeniedError, NotFoundError, ConflictError: from the
            control plane (nothing was decided).
    """
    if decision not in approvals.DECISIONS:
        raise InvalidInputError(f"unknown decision {decision!r}")
    edited = None
    if decision == "edit":
        tool_name = state.plane.gates.get(gate_id).tool_name
        if edited_form is not None and tool_name in state.registry:
            edited = args_of_form(state.registry.tool(tool_name).parameters, edited_form)
        else:
            edited = _parse_edit(edited_text)
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
        where = InboxFilter.of_query(request.query_params)
        everything = pending_cards(state, full_args=can)
        cards = [
            c
            for c in everything
            if where.keeps(area=c.area_id, tool=c.tool_name, risk=c.risk_level, amount=c.amount_usd)
        ]
        return render(
            request,
            "approvals.html",
            session,
            cards=cards,
            total=len(everything),
            where=where,
            feed_url="/approvals/feed.json?" + urlencode(where.query()),
            areas=sorted({c.area_id for c in everything if c.area_id}),
            tools=sorted({c.tool_name for c in everything}),
            risks=sorted({c.risk_level for c in everything}),
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
        cards = pending_cards(
            state, full_args=can, where=InboxFilter.of_query(request.query_params)
        )
        items = [
            {
                "gate_id": c.gate_id,
                "html": render_text(
                    "_gate_row.html",
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


@router.post("/approvals/batch", include_in_schema=False)
async def decide_selected(request: Request) -> Response:
    """Approve or reject the selected gates at once (one transaction), then back to the inbox."""
    form = await request.form()

    def action(session: WebSession) -> Response:
        state = service_state(request)
        decision = str(form.get("decision") or "")
        if decision not in ("approve", "reject"):
            raise InvalidInputError(f"unknown decision {decision!r}", details={"field": "decision"})
        gate_ids = list(dict.fromkeys(str(g) for g in form.getlist("gate_id") if g))
        if not gate_ids:
            raise InvalidInputError("select at least one gate", details={"field": "gate_id"})
        reason = str(form.get("reason") or "").strip() or None
        message = decide_selected_gates(
            state, session.principal.subject, gate_ids, decision, reason=reason
        )
        return redirect_with_flash(request, str(form.get("back") or "/approvals"), message)

    return guarded_post(request, Role.APPROVER, dict(form), action)


def decide_selected_gates(
    state: ServiceState, approver_id: str, gate_ids: list[str], decision: str, *, reason: str | None
) -> str:
    """Decide many gates as ``approver_id`` in one transaction, resume the approved runs, and
    say what happened (how many decided, and why any was refused)."""
    items = [approvals.DecisionItem(g, decision, reason=reason) for g in gate_ids]
    outcomes = approvals.decide_many(state, approver_id, items)
    done = [o for o in outcomes if not isinstance(o, TailguardError)]
    refused = [
        (g, o) for g, o in zip(gate_ids, outcomes, strict=True) if isinstance(o, TailguardError)
    ]
    ran = 0
    for outcome in done:
        resumed = approvals.resume_decided(state, outcome, through_agent=True)
        ran += int(resumed.result is not None and resumed.result.ok)
    verb = "Approved" if decision == "approve" else "Rejected"
    text = f"{verb} {len(done)} gate" + ("s" if len(done) != 1 else "") + "."
    if decision == "approve" and ran:
        text += f" {ran} call" + ("s" if ran != 1 else "") + " executed."
    if refused:
        first = refused[0][1].message
        text += f" {len(refused)} refused (first: {first})."
    return text


@router.post("/approvals/{gate_id}", include_in_schema=False)
async def decide(request: Request, gate_id: str) -> Response:
    """Approve, reject, or edit and approve one gate, then go back to the inbox."""
    form = await request.form()

    form_args = {k: v for k, v in form.items() if k.startswith("arg.")}

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
            edited_form=form_args if decision == "edit" and form_args else None,
        )
        return redirect_with_flash(request, str(form.get("back") or "/approvals"), message)

    return guarded_post(request, Role.APPROVER, dict(form), action)
