"""The learning page: the policy in force, where it departs from the catalogue, its versions,
rollbacks and switches, and (on request) its off-policy value against the fixed weights.

The figures are the learning loop's (:mod:`tailguard.learning`), the same as
``GET /v1/learning/policies`` and ``/v1/learning/evaluate``. Every signed-in person may look;
administrators may roll back, pin or freeze, each a ``policy`` ledger record with their name,
as through the API and ``tailguard learn rollback|pin|freeze``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from tailguard.errors import NotFoundError
from tailguard.learning.versions import PolicyStore
from tailguard.learning.view import behaviour
from tailguard.service.auth import Role
from tailguard.service.settings import ServiceState
from tailguard.service.web.render import guarded, guarded_post, render
from tailguard.service.web.session import WebSession, redirect_with_flash, service_state

router = APIRouter()

CHANGER = Role.ADMIN
#: Policies the page compares when asked to estimate.
COMPARED = ("learning", "fixed", "logged")


def learning_data(state: ServiceState, *, estimate: bool = False) -> dict[str, Any]:
    """The page's figures (see the module docstring)."""
    store = PolicyStore(state.ledger)
    st = store.state()
    versions = [v.to_json() for v in store.history(30)]
    rollbacks = [
        {"seq": r.seq, **r.fields}
        for r in state.ledger.records(kind="policy")
        if r.fields.get("action") == "rolled_back"
    ]
    model = store.active_model()
    view: dict[str, Any] = {
        "active": st.active,
        "pinned": st.pinned,
        "frozen": st.frozen,
        "versions": versions,
        "total_versions": store.count(),
        "rollbacks": rollbacks[-20:][::-1],
        "behaviour": behaviour(model) if model is not None else [],
        "estimates": [],
    }
    view["departures"] = sum(1 for r in view["behaviour"] if r["departs"])
    if estimate and model is not None:
        view["estimates"] = _estimates(state)
    return view


def _estimates(state: ServiceState) -> list[dict[str, Any]]:
    from tailguard.agents.catalogue import default_catalogue
    from tailguard.learning.evaluation import evaluate_policy

    cat = default_catalogue()
    out = []
    for name in COMPARED:
        try:
            result = evaluate_policy(
                state.ledger,
                name,
                bootstrap=200,
                groups=cat.groups(),
                weights={e.id: e.weight for e in cat.entries},
            ).to_json()
        except NotFoundError:
            continue
        out.append(
            {
                "policy": name,
                "n": result["n"],
                "ess": result["ess"],
                **{e: result["estimators"][e] for e in ("snips", "dr")},
            }
        )
    return out


@router.get("/learning", include_in_schema=False)
def learning(request: Request) -> Response:
    """The policy in force and its history; ``?estimate=1`` adds the off-policy estimates."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        estimate = request.query_params.get("estimate") == "1"
        return render(
            request,
            "learning.html",
            session,
            view=learning_data(state, estimate=estimate),
            estimated=estimate,
            can_change=session.principal.role.allows(CHANGER),
        )

    return guarded(request, Role.VIEWER, page)


@router.post("/learning/rollback", include_in_schema=False)
async def post_rollback(request: Request) -> Response:
    """Roll the active version back to the one before it (or the one named), with a reason."""
    form = await request.form()

    def action(session: WebSession) -> Response:
        state = service_state(request)
        reason = str(form.get("reason") or "").strip()[:500] or "rolled back from the dashboard"
        to = str(form.get("to") or "").strip() or None
        active = PolicyStore(state.ledger).rollback(
            state.settings.clock.now(), by=session.principal.subject, reason=reason, to=to
        )
        return redirect_with_flash(request, "/learning", f"Rolled back: {active} is in force.")

    return guarded_post(request, CHANGER, dict(form), action)


@router.post("/learning/switches", include_in_schema=False)
async def post_switches(request: Request) -> Response:
    """Pin or unpin, freeze or unfreeze (one switch per form)."""
    form = await request.form()

    def action(session: WebSession) -> Response:
        state = service_state(request)
        which = str(form.get("switch") or "")
        value = str(form.get("value") or "") == "on"
        if which not in ("pinned", "frozen"):
            return redirect_with_flash(request, "/learning", "Unknown switch.")
        st = PolicyStore(state.ledger).set_switch(
            state.settings.clock.now(), by=session.principal.subject, **{which: value}
        )
        message = f"Pinned: {'yes' if st.pinned else 'no'}; frozen: {'yes' if st.frozen else 'no'}."
        return redirect_with_flash(request, "/learning", message)

    return guarded_post(request, CHANGER, dict(form), action)
