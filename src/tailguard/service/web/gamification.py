"""The gamification pages: the operator's view (each area's reward arms, the leaderboard of
an area, reward spend, the programme's recent actions) and a technician's own page, built for
a phone (TechPower and rank, the streak and its prize, badges, replays recommended and
watched, opt-in or out).

The figures are the programme's store (:mod:`tailguard.gamification.store`), the same as
``/v1/gamification``. Any signed-in person may look; a technician's opt-in is theirs to change
(a key named after them) or an administrator's, and each change is a ledger record.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from tailguard.errors import NotFoundError
from tailguard.gamification.badges import badges, replays_viewed
from tailguard.gamification.replays import ReplayLibrary
from tailguard.gamification.store import GameStore
from tailguard.identity import canonical_name
from tailguard.service.auth import Role
from tailguard.service.web.render import guarded, guarded_post, render
from tailguard.service.web.session import WebSession, redirect_with_flash, service_state

router = APIRouter()


def operator_view(store: GameStore, area_id: str | None) -> dict[str, Any]:
    """The operator page's figures; ``area_id`` picks the leaderboard (default: the first)."""
    arms = store.arms()
    weeks = store.weeks()
    area = area_id if area_id in arms else (sorted(arms)[0] if arms else None)
    spend = store.spend()
    return {
        "arms": [{"area_id": a, **v} for a, v in sorted(arms.items())],
        "area": area,
        "week": weeks[-1].isoformat() if weeks else None,
        "board": store.leaderboard(area, week=weeks[-1]) if area and weeks else [],
        "spend": [{"what": k, **v} for k, v in sorted(spend.items())],
        "kits_usd": sum(v["usd"] for k, v in spend.items() if k == "award_kit_bonus:executed"),
        "withheld": sum(v["count"] for k, v in spend.items() if k == "withhold_fix_bonus:executed"),
        "opted_in": len(store.opted_in()),
        "actions": store.actions(limit=30),
    }


@router.get("/gamification", include_in_schema=False)
def gamification(request: Request) -> Response:
    """The operator's view; ``?area=PA-0001`` picks the leaderboard shown."""

    def page(session: WebSession) -> Response:
        store = GameStore(service_state(request).ledger)
        view = operator_view(store, request.query_params.get("area"))
        return render(request, "gamification.html", session, view=view)

    return guarded(request, Role.VIEWER, page)


@router.get("/tech/{tech_id}", include_in_schema=False)
def tech_page(request: Request, tech_id: str) -> Response:
    """A technician's own page (phone first)."""

    def page(session: WebSession) -> Response:
        store = GameStore(service_state(request).ledger)
        try:
            view = store.tech(tech_id[:64])
        except NotFoundError:
            view = None
        mine = session.principal.name == canonical_name(tech_id) or session.principal.role.allows(
            Role.ADMIN
        )
        # A tech who has not opted in is scored for the agent's use; others do not see it.
        private = view is not None and not view["opted_in"] and not mine
        if view is not None and not private:
            view = {
                **view,
                "badges": badges(store, tech_id[:64]),
                "replays_for_you": ReplayLibrary(store).recommend(tech_id[:64], limit=3),
                "replays_viewed": replays_viewed(store, tech_id[:64], limit=5),
            }
        return render(
            request,
            "tech.html",
            session,
            view=None if private else view,
            private=private,
            tech_id=tech_id[:64],
            can_change=mine,
        )

    return guarded(request, Role.VIEWER, page)


@router.post("/tech/{tech_id}/opt-in", include_in_schema=False)
async def post_opt_in(request: Request, tech_id: str) -> Response:
    """Opt in (``value=on``) or out of the leaderboard."""
    form = await request.form()

    def action(session: WebSession) -> Response:
        who = session.principal
        if who.name != canonical_name(tech_id) and not who.role.allows(Role.ADMIN):
            return redirect_with_flash(
                request,
                f"/tech/{tech_id}",
                "Only the technician or an administrator may change this.",
            )
        value = str(form.get("value") or "") == "on"
        state = service_state(request)
        GameStore(state.ledger).set_opt_in(
            tech_id[:64], value, by=who.name, now=state.settings.clock.now()
        )
        said = "You are on your area's leaderboard." if value else "You are off the leaderboard."
        return redirect_with_flash(request, f"/tech/{tech_id}", said)

    return guarded_post(request, Role.VIEWER, dict(form), action)
