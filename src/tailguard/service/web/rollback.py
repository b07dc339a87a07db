"""The run monitor's rollback button: ask for an executed step's rollback (approval-gated).

The form posts to ``/runs/{run_id}/steps/{step_id}/rollback``; the request becomes a gated
``rollback_step`` call (:func:`tailguard.control.rollback_requests.request_rollback`) that
another person approves in the inbox. The button shows on executed steps whose tool has a
rollback strategy, for operators.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from tailguard.control.rollback_requests import ROLLBACK_TOOL, request_rollback
from tailguard.service.auth import Role
from tailguard.service.settings import ServiceState
from tailguard.service.web.render import guarded_post
from tailguard.service.web.session import WebSession, redirect_with_flash, service_state

router = APIRouter()


def rollbackable(state: ServiceState, steps: Iterable[Mapping[str, Any]]) -> set[str]:
    """The ids of the steps a person may ask to roll back (executed, with a strategy)."""
    out: set[str] = set()
    for s in steps:
        tool = str(s.get("tool_name"))
        if s.get("status") not in ("executed", "approved") or tool == ROLLBACK_TOOL:
            continue
        policy = state.registry.policy(tool) if tool in state.registry else None
        policy = policy or state.policies.get(tool)
        if policy is not None and policy.rollback_strategy is not None:
            out.add(str(s["step_id"]))
    return out


@router.post("/runs/{run_id}/steps/{step_id}/rollback", include_in_schema=False)
async def ask_rollback(request: Request, run_id: str, step_id: str) -> Response:
    """Open the gated rollback request; back to the run page with what happened."""
    form = await request.form()

    def act(session: WebSession) -> Response:
        state = service_state(request)
        reason = str(form.get("reason") or "").strip()[:500] or None
        result = request_rollback(
            state.plane,
            step_id,
            requested_by=session.principal.subject,
            reason=reason,
            policies=state.policies,
        )
        message = (
            f"Rollback of {step_id} asked: it waits for another person's approval "
            f"(gate {result.gate_id})."
            if result.gate_id
            else f"Rollback of {step_id} was not opened: {result.reason}"
        )
        return redirect_with_flash(
            request, f"/runs/{quote(run_id, safe='')}", message, ok=bool(result.gate_id)
        )

    return guarded_post(request, Role.OPERATOR, dict(form), act)
