"""Autonomous operations over HTTP: the recruiter autopilot's campaigns and the incidents of
self-healing (``/v1/ops``). Thin over :mod:`tailguard.ops`.

Campaigns run on the service's chat stack (its control plane holds the recruiting tools), so
their sends wait in the same approvals inbox as every other gate, where people approve them in
a batch. Only the campaign's recruiter (an API key named as the recruiter's user id) approves
its profile; an admin may act for anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from tailguard.errors import PermissionDeniedError, TailguardError
from tailguard.identity import same_principal
from tailguard.ops.campaign import Autopilot, CampaignSpec
from tailguard.ops.campaign_interviews import is_interview, slot_text
from tailguard.ops.store import OpsStore
from tailguard.ops.swarm_store import ProposalRow, ProposalStore
from tailguard.service.api.deps import Approver, Operator, State, Viewer
from tailguard.service.errors import ERROR_RESPONSES, responses
from tailguard.service.settings import ServiceState

router = APIRouter(prefix="/v1/ops", responses=ERROR_RESPONSES, tags=["ops"])
log = logging.getLogger(__name__)
#: The environment variable that starts the operations scheduler with the service (its tick
#: length: ``15m``, ``1h``, ...; unset or empty: the service does not schedule).
SCHEDULE_ENV = "TAILGUARD_OPS_SCHEDULE"


def include(app: FastAPI) -> None:
    """Add the ``/v1/ops`` routes; with ``$TAILGUARD_OPS_SCHEDULE`` set, the service also
    runs the operations scheduler (:mod:`tailguard.ops.scheduler`) over its campaigns: one
    tick at start-up, then one at the start of every tick window, each claimed in the
    database so several replicas never work the same tick.

    Raises:
        InvalidInputError: the variable is not a tick length (the service does not start).
    """
    app.include_router(router)
    text = os.environ.get(SCHEDULE_ENV, "").strip()
    if not text:
        return
    from tailguard.ops.scheduler import Scheduler, parse_every

    every = parse_every(text)
    state: ServiceState = app.state.tailguard
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        async with inner(app_) as value:
            pilot = autopilot(state)
            scheduler = Scheduler(
                pilot.control.ledger,
                clock=state.settings.clock,
                autopilot=pilot,
                every=every,
                name="service",
            )
            state.extras["ops_scheduler"] = scheduler
            await _tick(state, scheduler)
            task = asyncio.create_task(_tick_forever(state, scheduler))
            try:
                yield value
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = lifespan


async def _tick(state: ServiceState, scheduler: Any) -> None:
    try:
        report = await asyncio.to_thread(scheduler.tick)
    except TailguardError as exc:
        log.warning("operations scheduler tick failed: %s", exc.message)
        return
    state.extras["ops_schedule_last"] = report
    if report["errors"]:
        log.warning("operations scheduler: %d error(s)", len(report["errors"]), extra=report)


async def _tick_forever(state: ServiceState, scheduler: Any) -> None:
    from tailguard.ops.scheduler import tick_of

    while True:
        now = scheduler.clock.now()
        start_next = (tick_of(now, scheduler.every) + 1) * scheduler.every.total_seconds()
        await asyncio.sleep(max(1.0, start_next - now.timestamp()))
        await _tick(state, scheduler)


def _whole(value: Any) -> Any:
    """A JSON integer (``5`` or ``5.0``, as JSON Schema counts them), never a bool or a string."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("an integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("an integer")
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_whole)]
#: A campaign's seed: the bounds come before the validator, so that the OpenAPI schema carries
#: them (as minimum/maximum) even inside the optional field's anyOf.
Seed = Annotated[int, Field(ge=0, le=2**31 - 1), BeforeValidator(_whole)]
CampaignId = Annotated[str, Path(pattern="^cmp-[0-9a-f]{12}$", description="A campaign id.")]
_TEXT = "^[^\\x00]*$"


class ProfileIn(BaseModel):
    """The policy profile (channels, cadence, touches, daily cap, budget, interviews)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    channels: list[Literal["sms", "email", "in_app"]] = Field(min_length=1, max_length=3)
    cadence_hours: Whole = Field(ge=1, le=336)
    touches: Whole = Field(ge=1, le=6)
    daily_send_cap: Whole = Field(ge=1, le=10_000)
    budget_usd: float = Field(gt=0, le=1_000_000, allow_inf_nan=False)
    cost_per_send_usd: float = Field(default=1.0, ge=0, le=1000, allow_inf_nan=False)
    interview_kind: Literal["phone", "video", "onsite"] = "phone"
    interview_lead_hours: Whole = Field(default=48, ge=1, le=336)
    max_reschedules: Whole = Field(default=1, ge=0, le=3)
    cost_per_interview_usd: float = Field(default=0.0, ge=0, le=10_000, allow_inf_nan=False)


class CampaignIn(BaseModel):
    """A new campaign: an objective, the recruiter and the profile they will approve."""

    model_config = ConfigDict(extra="forbid", strict=True)
    objective: str = Field(min_length=1, max_length=400, pattern=_TEXT)
    recruiter_id: str = Field(pattern="^[A-Za-z0-9_-]{1,64}$")
    target_hires: Whole = Field(ge=1, le=1000)
    max_candidates: Whole = Field(default=20, ge=1, le=500)
    region: str | None = Field(default=None, max_length=64, pattern=_TEXT)
    seed: Seed | None = None
    profile: ProfileIn


class CancelIn(BaseModel):
    """Why the campaign is cancelled (optional)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    reason: str | None = Field(default=None, max_length=400, pattern=_TEXT)


def autopilot(state: ServiceState) -> Autopilot:
    """The campaigns of the service's chat stack."""
    from tailguard.service.chatstack import chat_stack
    from tailguard.service.web.compendium import compendium_of

    return Autopilot(chat_stack(state).control, compendium=compendium_of(state))


@router.get("/campaigns", summary="Every campaign with its progress")
def list_campaigns(state: State, _: Viewer) -> dict[str, Any]:
    """``{"campaigns": [summary, ...]}``, oldest first."""
    pilot = autopilot(state)
    return {"campaigns": [pilot.summary(c.campaign_id) for c in pilot.store.campaigns()]}


@router.post("/campaigns", summary="Create a campaign (a draft)", status_code=201)
def create_campaign(state: State, _: Operator, body: CampaignIn) -> dict[str, Any]:
    """The new campaign's summary; it starts when its recruiter approves the profile."""
    pilot = autopilot(state)
    row = pilot.create(CampaignSpec.model_validate(body.model_dump()))
    return pilot.summary(row.campaign_id)


@router.get("/campaigns/{campaign_id}", summary="A campaign's progress", responses=responses(404))
def get_campaign(state: State, _: Viewer, campaign_id: CampaignId) -> dict[str, Any]:
    """Progress, the funnel (replies, interviews, no-shows, hires), spend and the exception
    summary, with every send and interview (``kind``: ``send`` or ``interview``; an
    interview's ``scheduled_for`` is its slot)."""
    pilot = autopilot(state)
    summary = pilot.summary(campaign_id)
    summary["send_rows"] = send_rows(pilot, summary)
    return summary


def send_rows(pilot: Autopilot, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """A campaign's sends and interviews, JSON-ready, in candidacy and touch order."""
    lead = int(summary["profile"]["interview_lead_hours"])
    return [
        {
            "interest_id": s.interest_id,
            "kind": "interview" if is_interview(s) else "send",
            "touch": s.touch,
            "channel": s.channel,
            "status": s.status,
            "gate_id": s.gate_id,
            "outcome": s.outcome,
            "queued_at": s.queued_at.isoformat(),
            "sent_at": s.sent_at.isoformat() if s.sent_at else None,
            "scheduled_for": slot_text(s, lead) if is_interview(s) else None,
        }
        for s in pilot.store.sends(summary["campaign_id"])
    ]


@router.post(
    "/campaigns/{campaign_id}/approve-profile",
    summary="The recruiter approves the policy profile: the campaign starts",
    responses=responses(403, 404, 409),
)
def approve_profile(state: State, who: Operator, campaign_id: CampaignId) -> dict[str, Any]:
    """Only the campaign's recruiter (the key named as their user id) may approve."""
    pilot = autopilot(state)
    row = pilot.store.get(campaign_id)
    if not same_principal(who.name, row.recruiter_id):
        raise PermissionDeniedError(f"only {row.recruiter_id} approves this campaign's profile")
    pilot.approve_profile(campaign_id, row.recruiter_id)
    return pilot.summary(campaign_id)


@router.post(
    "/campaigns/{campaign_id}/advance",
    summary="One pass: run approved sends and interviews, update the pipeline, queue what is due",
    responses=responses(404, 409),
)
def advance(state: State, _: Operator, campaign_id: CampaignId) -> dict[str, Any]:
    """The campaign's summary after the pass."""
    pilot = autopilot(state)
    pilot.advance(campaign_id)
    return pilot.summary(campaign_id)


def _lifecycle(action: str) -> Any:
    def handler(state: State, _: Operator, campaign_id: CampaignId) -> dict[str, Any]:
        pilot = autopilot(state)
        getattr(pilot, action)(campaign_id)
        return pilot.summary(campaign_id)

    handler.__doc__ = f"{action.capitalize()} the campaign."
    return handler


for _action in ("pause", "resume"):
    router.post(
        f"/campaigns/{{campaign_id}}/{_action}",
        summary=f"{_action.capitalize()} a campaign",
        responses=responses(404, 409),
    )(_lifecycle(_action))


@router.post(
    "/campaigns/{campaign_id}/cancel",
    summary="Cancel a campaign: waiting sends are rejected and never run",
    responses=responses(404, 409),
)
def cancel(
    state: State, who: Approver, campaign_id: CampaignId, body: CancelIn | None = None
) -> dict[str, Any]:
    """Ends the campaign; its sends still waiting are rejected by the caller (an approver, so
    that no one can approve them in the inbox afterwards); postmortem and summary written."""
    pilot = autopilot(state)
    pilot.cancel(campaign_id, who.name)
    return pilot.summary(campaign_id)


ProposalId = Annotated[str, Path(pattern="^prp-[0-9a-f]{12}$", description="A proposal id.")]
ProposalStatus = Literal[
    "filed",
    "built",
    "tested",
    "awaiting_approval",
    "applied",
    "rejected",
    "expired",
    "build_failed",
    "tests_failed",
    "apply_failed",
]


def _proposal_brief(row: ProposalRow) -> dict[str, Any]:
    build, tests = row.state.get("build") or {}, row.state.get("tests") or {}
    return {
        "proposal_id": row.proposal_id,
        "repo": row.repo,
        "status": row.status,
        "step": row.step,
        "finding": row.finding,
        "files": build.get("files", []),
        "tests": tests.get("tests"),
        "selection": tests.get("selection"),
        "green": tests.get("green"),
        "gate_id": row.state.get("gate_id"),
        "decided_by": row.state.get("decided_by"),
        "branch": (row.state.get("applied") or {}).get("branch"),
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


@router.get("/proposals", summary="The dev swarm's change proposals, oldest first")
def proposals(state: State, _: Viewer, status: ProposalStatus | None = None) -> dict[str, Any]:
    """``{"proposals": [...]}``: finding, files, the tests run (and how they were chosen),
    green or red, the gate waiting in the inbox, the decision and the branch applied to."""
    rows = ProposalStore(state.ledger.engine).list(status=status)
    return {"proposals": [_proposal_brief(r) for r in rows]}


@router.get(
    "/proposals/{proposal_id}",
    summary="One change proposal in full: finding, diff, test results, decision",
    responses=responses(404),
)
def proposal(state: State, _: Viewer, proposal_id: ProposalId) -> dict[str, Any]:
    """Everything the swarm stored for the proposal (the diff, the tests' output tail, ...)."""
    return ProposalStore(state.ledger.engine).get(proposal_id).to_json()


@router.get("/incidents", summary="Self-healing incidents, oldest first")
def incidents(state: State, _: Viewer) -> dict[str, Any]:
    """``{"incidents": [...]}``: fault, status, remedy, gate, verification, compendium entry."""
    rows = OpsStore(state.ledger.engine).incidents()
    return {
        "incidents": [
            {
                "incident_id": r.incident_id,
                "fault": r.fault,
                "status": r.status,
                "step": r.step,
                "opened_at": r.opened_at.isoformat(),
                "remedy": r.state.get("remedy"),
                "gate_id": r.state.get("gate_id"),
                "approved_by": r.state.get("approved_by"),
                "verified": r.state.get("verified"),
                "compendium_entry": r.state.get("compendium_entry"),
            }
            for r in rows
        ]
    }


@router.get("/exit-criteria", summary="The control-plane document's exit criteria, live")
def exit_criteria_now(state: State, _: Viewer) -> dict[str, Any]:
    """``{"at", "met", "total", "criteria": [{"id", "criterion", "target", "value", "met",
    "detail"}]}`` over the service's tools, ledger and compendium."""
    from tailguard.ops.exitcriteria import exit_criteria
    from tailguard.service.web.compendium import compendium_of

    return exit_criteria(
        state.ledger, state.registry, compendium_of(state), now=state.settings.clock.now()
    )
