"""The coaches' page: who exports wisdom, who imports it, laggards, Innovation Delta, nudges.

The figures are the crowd exchange's (:mod:`tailguard.crowd`), the same as
``GET /v1/crowd/coaches`` and ``/v1/crowd/reputation``: the exchange runs over what the areas
published, exporters are areas whose tactics replicated in independent local tests, importers
adopted proven tactics through a local test, and laggards have a tactic proven in their
cluster that they neither adopted nor tested.

A nudge is the ``crowd_nudge`` governed tool (risk ``suggest``) run through the control plane
in a ``coach`` run started by the signed-in person: policy check, rate limit and a
``crowd_nudge`` ledger record with the coach's id. Only a tactic the area is listed as
ignoring can be nudged; operators and above may nudge, every signed-in person may look.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from tailguard.control import ControlPlane, StepOutcome, ToolRegistry
from tailguard.crowd.exchange import run_exchange
from tailguard.crowd.reputation import coaches_view
from tailguard.crowd.store import CrowdStore
from tailguard.crowd.tools import crowd_tools
from tailguard.errors import InvalidInputError
from tailguard.service.auth import Role
from tailguard.service.settings import ServiceState
from tailguard.service.web.render import guarded, guarded_post, render
from tailguard.service.web.session import WebSession, redirect_with_flash, service_state

router = APIRouter()

NUDGER = Role.OPERATOR
_PLANE = "crowd_plane"


def crowd_plane(state: ServiceState) -> ControlPlane:
    """A control plane over the service's ledger and approvers holding the crowd tools.

    Kept apart from ``state.plane`` so the service's own registry (the tools it can resume
    after approval) is not changed; both write the same ledger and control tables.
    """
    plane = state.extras.get(_PLANE)
    if plane is None:
        store = CrowdStore(state.ledger.engine)
        registry = ToolRegistry()
        for tool in crowd_tools(ledger=state.ledger, store=store):
            registry.register(tool)
        plane = ControlPlane(
            registry, state.ledger, clock=state.settings.clock, approvers=state.keys
        )
        state.extras[_PLANE] = plane
    assert isinstance(plane, ControlPlane)
    return plane


def coaches_data(state: ServiceState) -> dict[str, Any]:
    """The page's figures: ``exporters``, ``importers``, ``laggards`` and ``clusters``."""
    store = CrowdStore(state.ledger.engine)
    result = run_exchange(store)
    view = coaches_view(result, store.tactics_frame(), store.local_tests())
    view["clusters"] = len(set(result.clusters.values()))
    view["areas"] = len(result.clusters)
    view["discoveries"] = sum(1 for x in result.lifts if x.discovered)
    return view


def nudge(
    state: ServiceState, coach_id: str, area_id: str, tactic: str, note: str
) -> dict[str, Any]:
    """Nudge a laggard towards a tactic proven in its cluster, as ``coach_id``.

    Raises:
        InvalidInputError: the area is not a laggard ignoring ``tactic``, or the call was
            refused by the control plane (rate limit, validation).
    """
    laggards = {r["area_id"]: r["ignored"] for r in coaches_data(state)["laggards"]}
    if tactic not in laggards.get(area_id, []):
        raise InvalidInputError(
            f"{area_id} is not ignoring a tactic {tactic!r} proven in its cluster"
        )
    plane = crowd_plane(state)
    run = plane.start_run("coach", coach_id, f"nudge {area_id} towards {tactic}")
    result = plane.execute(
        run, "crowd_nudge", {"area_id": area_id, "tactic": tactic, "coach_note": note}
    )
    plane.finish_run(run, "completed" if result.outcome is StepOutcome.EXECUTED else "failed")
    if result.outcome is not StepOutcome.EXECUTED:
        raise InvalidInputError(f"the nudge was refused: {result.reason or result.outcome.value}")
    return dict(result.value)


@router.get("/coaches", include_in_schema=False)
def coaches(request: Request) -> Response:
    """Exporters, importers, laggards (with nudge buttons) and the Innovation Delta board."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        return render(
            request,
            "coaches.html",
            session,
            view=coaches_data(state),
            can_nudge=session.principal.role.allows(NUDGER),
        )

    return guarded(request, Role.VIEWER, page)


@router.post("/coaches/nudge", include_in_schema=False)
async def post_nudge(request: Request) -> Response:
    """Send a nudge to a laggard's agent, then go back to the page."""
    form = await request.form()

    def action(session: WebSession) -> Response:
        state = service_state(request)
        area = str(form.get("area_id") or "").strip()
        tactic = str(form.get("tactic") or "").strip()
        note = str(form.get("note") or "").strip()[:1000]
        done = nudge(state, session.principal.subject, area, tactic, note)
        message = f"Nudged {area} towards {tactic} (ledger record {done['seq']})."
        return redirect_with_flash(request, "/coaches", message)

    return guarded_post(request, NUDGER, dict(form), action)
