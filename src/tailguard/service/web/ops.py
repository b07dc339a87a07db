"""The operations page: the recruiter autopilot's campaigns, the self-healing incidents and the dev
swarm's change proposals.

``/ops`` shows the control-plane document's exit criteria with their current values, lists
every campaign with its progress (contacted, replied, sends sent and waiting at
their gates, interviews, no-shows and hires against the objective, spend against budget) and
every incident of the reliability agent; ``/ops/campaigns/{id}`` shows one campaign's
profile, market context, funnel, sends and interviews, and exception summary. Sends are approved in the approvals inbox like every other gate. Read-only: the
campaign's actions are the ``/v1/ops`` API and ``tailguard ops campaign``.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response

from tailguard.errors import NotFoundError
from tailguard.ops.exitcriteria import exit_criteria
from tailguard.ops.store import OpsStore
from tailguard.ops.swarm_store import ProposalStore
from tailguard.service.api.ops import autopilot, send_rows
from tailguard.service.auth import Role
from tailguard.service.web.compendium import compendium_of
from tailguard.service.web.render import guarded, render
from tailguard.service.web.session import WebSession, service_state

router = APIRouter()
_ID = re.compile(r"^cmp-[0-9a-f]{12}$")


@router.get("/ops", include_in_schema=False)
def ops_page(request: Request) -> Response:
    """Campaigns, incidents and the dev swarm's change proposals."""

    def page(session: WebSession) -> Response:
        state = service_state(request)
        pilot = autopilot(state)
        campaigns = [pilot.summary(c.campaign_id) for c in pilot.store.campaigns()]
        incidents = OpsStore(state.ledger.engine).incidents()
        proposals = ProposalStore(state.ledger.engine).list()
        criteria = exit_criteria(
            state.ledger, state.registry, compendium_of(state), now=state.settings.clock.now()
        )
        return render(
            request,
            "ops.html",
            session,
            campaigns=campaigns,
            incidents=incidents,
            proposals=proposals,
            criteria=criteria,
        )

    return guarded(request, Role.VIEWER, page)


@router.get("/ops/campaigns/{campaign_id}", include_in_schema=False)
def campaign_page(request: Request, campaign_id: str) -> Response:
    """One campaign: profile, market context, funnel, sends and interviews, exceptions."""

    def page(session: WebSession) -> Response:
        if not _ID.match(campaign_id):
            raise NotFoundError(f"no campaign {campaign_id!r}")
        pilot = autopilot(service_state(request))
        summary = pilot.summary(campaign_id)
        return render(
            request,
            "ops_campaign.html",
            session,
            c=summary,
            sends=send_rows(pilot, summary),
        )

    return guarded(request, Role.VIEWER, page)
