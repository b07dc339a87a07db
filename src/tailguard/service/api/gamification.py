"""Gamification over HTTP, for the field app and the operator: a technician's TechPower, rank,
streak and opt-in; an area's leaderboard (opted-in technicians only); the programme's arms and
reward spend. Opting in or out is the technician's own decision (a key named after them) or an
administrator's, and is a ``gamification`` ledger record."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from tailguard.errors import NotFoundError, PermissionDeniedError
from tailguard.gamification.replays import ReplayLibrary
from tailguard.gamification.store import GameStore
from tailguard.identity import canonical_name
from tailguard.service.api.deps import State, Viewer
from tailguard.service.auth import Principal, Role
from tailguard.service.errors import ERROR_RESPONSES, responses

router = APIRouter(prefix="/v1/gamification", responses=ERROR_RESPONSES, tags=["gamification"])

TechId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class OptIn(BaseModel):
    """Show me on my area's leaderboard (true) or not (false)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    opted_in: bool


@router.get(
    "/techs/{tech_id}",
    summary="A technician's TechPower, rank, streak and opt-in",
    responses=responses(403, 404),
)
def tech(state: State, who: Viewer, tech_id: TechId) -> dict[str, Any]:
    """What the technician's page shows (404 if the programme knows nothing of them). The
    score of a tech who has not opted in is private: only they and administrators see it."""
    store = GameStore(state.ledger)
    view = store.tech(tech_id)
    if not view["opted_in"]:
        _own(who, tech_id)
    return view


@router.put(
    "/techs/{tech_id}/opt-in",
    summary="Opt in or out of the leaderboard",
    responses=responses(403, 422),
)
def opt_in(state: State, who: Viewer, tech_id: TechId, body: OptIn) -> dict[str, Any]:
    """Only the technician (a key named after them) or an administrator may change it."""
    _own(who, tech_id)
    GameStore(state.ledger).set_opt_in(
        tech_id, body.opted_in, by=who.name, now=state.settings.clock.now()
    )
    return {"tech_id": tech_id, "opted_in": body.opted_in}


class ReplayIn(BaseModel):
    """A replay of a job, published by a top technician (the media stays in the field app)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    tech_id: str = Field(min_length=1, max_length=64)
    job_code: str = Field(min_length=1, max_length=64)
    model: str = Field(min_length=1, max_length=128)
    summary: str = Field(min_length=1, max_length=2000)
    outcome: str = Field(min_length=1, max_length=64)
    #: The recording's address (the media stays in the field app).
    media_ref: str = Field(
        min_length=1, max_length=500, pattern=r"^(https|s3|gs|fieldapp)://[^ \x00]+$"
    )


class ViewIn(BaseModel):
    """Who watched a replay."""

    model_config = ConfigDict(extra="forbid", strict=True)
    tech_id: str = Field(min_length=1, max_length=64)


@router.post(
    "/replays",
    status_code=201,
    summary="Publish a replay (P90, opted in)",
    responses=responses(403, 422),
)
def publish(state: State, who: Viewer, body: ReplayIn) -> dict[str, Any]:
    """Only the technician themself (or an administrator); 403 below the network's P90."""
    _own(who, body.tech_id)
    replay_id = ReplayLibrary(GameStore(state.ledger)).publish(
        body.tech_id,
        job_code=body.job_code,
        model=body.model,
        summary=body.summary,
        outcome=body.outcome,
        media_ref=body.media_ref,
        now=state.settings.clock.now(),
    )
    return {"replay_id": replay_id}


@router.get("/techs/{tech_id}/replays", summary="Replays recommended for a technician")
def recommended(
    state: State, _: Viewer, tech_id: TechId, limit: Annotated[int, Query(ge=1, le=50)] = 5
) -> dict[str, Any]:
    """Replays of the tech's weakest job codes, by others, weakest code first."""
    rows = ReplayLibrary(GameStore(state.ledger)).recommend(tech_id, limit=limit)
    return {"tech_id": tech_id, "replays": rows}


@router.post(
    "/replays/{replay_id}/views",
    status_code=201,
    summary="Record a replay's view",
    responses=responses(403, 404, 422),
)
def viewed(
    state: State,
    who: Viewer,
    replay_id: Annotated[str, Path(min_length=1, max_length=64)],
    body: ViewIn,
) -> dict[str, Any]:
    """The viewer is the technician themself (or an administrator records it for them)."""
    _own(who, body.tech_id)
    ReplayLibrary(GameStore(state.ledger)).view(replay_id, body.tech_id, state.settings.clock.now())
    return {"replay_id": replay_id, "tech_id": body.tech_id}


def _own(who: Principal, tech_id: str) -> None:
    if who.name != canonical_name(tech_id) and not who.role.allows(Role.ADMIN):
        raise PermissionDeniedError("only the technician or an administrator may do this")


@router.get("/leaderboard", summary="An area's leaderboard: opted-in technicians only")
def board(
    state: State,
    _: Viewer,
    area_id: Annotated[str, Query(min_length=1, max_length=64)],
    week: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
            description="A Monday (YYYY-MM-DD); default the latest.",
        ),
    ] = None,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """``{"area_id", "week", "rows": [{"board_rank", "tech_id", "techpower", ...}]}``."""
    store = GameStore(state.ledger)
    weeks = store.weeks()
    try:
        asked = date.fromisoformat(week) if week else None
    except ValueError:  # 2026-02-31: the right shape, but no such day, so no such week
        raise NotFoundError(f"no week {week!r}") from None
    shown = asked or (weeks[-1] if weeks else None)
    rows = store.leaderboard(area_id, week=shown, top=top) if shown else []
    return {"area_id": area_id, "week": shown.isoformat() if shown else None, "rows": rows}


@router.get("/summary", summary="The programme's arms by area and its reward spend")
def summary(state: State, _: Viewer) -> dict[str, Any]:
    """``{"weeks", "arms": {area: {...}}, "spend": {"kind:status": {"count", "usd"}}}``."""
    store = GameStore(state.ledger)
    return {
        "weeks": [w.isoformat() for w in store.weeks()],
        "arms": store.arms(),
        "spend": store.spend(),
        "opted_in": len(store.opted_in()),
    }
