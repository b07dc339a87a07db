"""The operations page in the browser: campaigns with their progress and sends, incidents."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tailguard.clock import FakeClock, SystemClock
from tailguard.compendium import Compendium, default_dir
from tailguard.ops import run_drill
from tailguard.ops.campaign import Autopilot, parse_spec
from tailguard.roles.session import open_chat

from .conftest import LiveService, live_service, sign_in

_IDS: dict[str, str] = {}


def _prepare(ledger_url: str) -> None:
    """A finished campaign, one with sends waiting at their gates, and a healed incident."""
    stack = open_chat(ledger_url)
    try:
        pilot = Autopilot(stack.control, compendium=Compendium(default_dir(ledger_url)))
        profile = {
            "channels": ["sms"],
            "cadence_hours": 24,
            "touches": 1,
            "daily_send_cap": 10,
            "budget_usd": 40.0,
        }
        # Seed 1: none of the three leads replies, so "done" completes without interviews.
        for name, objective in (("done", "Flatbed drivers, Dallas"), ("waiting", "Reefer drivers")):
            spec = parse_spec(
                {
                    "objective": objective,
                    "recruiter_id": "rec-001",
                    "target_hires": 5,
                    "max_candidates": 3,
                    "seed": 1,
                    "profile": profile,
                }
            )
            cid = pilot.create(spec).campaign_id
            pilot.approve_profile(cid, "rec-001")
            pilot.advance(cid)
            if name == "done":
                pilot.approve_batch(cid, "admin")
                pilot.advance(cid)
            _IDS[name] = cid
            _IDS[f"{name}_sends"] = str(len(pilot.store.sends(cid)))
    finally:
        stack.close()
    _IDS["hired"] = _hire_one(ledger_url, profile)
    result = run_drill("budget_burn", ledger_url, compendium_dir=default_dir(ledger_url))
    _IDS["incident"] = str(result["incident_id"])
    # The dev swarm on a throwaway repository: ruff's finding built, tested green, at its gate.
    from ops._swarm import make_repo
    from ops._swarm import swarm as dev_swarm

    repo = make_repo(Path(ledger_url.removeprefix("sqlite:///")).parent)
    with dev_swarm(ledger_url, repo) as sw:
        (filed,) = sw.scout(["ruff"])
        _IDS["proposal"] = filed.proposal_id
        _IDS["proposal_gate"] = str(sw.advance(filed.proposal_id).state["gate_id"])


def _hire_one(ledger_url: str, profile: dict[str, Any]) -> str:
    """A campaign (seed 0: two of three leads reply, one is hired) run a day at a time on a
    clock that starts two weeks ago and never passes now, to its objective of one hire."""
    clock = FakeClock(SystemClock().now() - timedelta(days=14))
    stack = open_chat(ledger_url, clock=clock)
    try:
        pilot = Autopilot(stack.control, compendium=Compendium(default_dir(ledger_url)))
        spec = parse_spec(
            {
                "objective": "Tanker drivers, Houston",
                "recruiter_id": "rec-001",
                "target_hires": 1,
                "max_candidates": 3,
                "seed": 0,
                "profile": profile,
            }
        )
        cid = pilot.create(spec).campaign_id
        pilot.approve_profile(cid, "rec-001")
        for _ in range(12):
            for _ in range(3):
                pilot.advance(cid)
                pilot.approve_batch(cid, "admin")
            if pilot.store.get(cid).status != "active":
                break
            clock.advance(timedelta(hours=25))
        assert pilot.store.get(cid).status == "objective_met"
        return cid
    finally:
        stack.close()


@pytest.fixture(scope="module")
def ops_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A service of its own over a ledger with campaigns and an incident."""
    with live_service(tmp_path_factory.mktemp("ops-web"), prepare=_prepare) as live:
        yield live


@pytest.fixture
def opage(browser: Browser, ops_service: LiveService) -> Iterator[Page]:
    """A fresh profile on the operations service."""
    ctx = browser.new_context(
        base_url=ops_service.base_url, viewport={"width": 1360, "height": 900}
    )
    ctx.set_default_timeout(15_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def test_a_viewer_follows_campaigns_and_incidents(opage: Page, ops_service: LiveService) -> None:
    """From the navigation: both campaigns with their status and counts, the incident with its
    remedy and card; a campaign's page lists its sends and points to the inbox when waiting."""
    page = opage
    sign_in(page, ops_service, "victor", then="/network")
    page.locator("header nav a", has_text="Operations").click()
    page.wait_for_url("**/ops")
    expect(page.get_by_test_id("criteria-met")).to_contain_text("of 8 met now")
    expect(page.locator("[data-testid=criteria] tr")).to_have_count(9)
    # The deployment's and the campaigns' steps link to their runs: the chain is complete.
    chain = page.locator('[data-testid=criteria] tr[data-criterion="correlation_chain"]')
    expect(chain.locator("td").nth(3)).to_have_text("yes")
    cross = page.locator('[data-testid=criteria] tr[data-criterion="cross_role_live"]')
    expect(cross).to_contain_text("get_market_intel")
    done, waiting = _IDS["done"], _IDS["waiting"]
    expect(page.get_by_test_id(f"status-{done}")).to_have_text("completed")
    expect(page.get_by_test_id(f"status-{waiting}")).to_have_text("active")
    row = page.locator(f'[data-testid=campaigns] tr[data-campaign="{done}"]')
    expect(row.locator("td").nth(7)).to_have_text("3")  # sent
    incident = page.locator(f'[data-testid=incidents] tr[data-incident="{_IDS["incident"]}"]')
    expect(incident).to_contain_text("ops_pause_intervention_kind")
    expect(incident).to_contain_text("closed")
    expect(incident).to_contain_text("incident/budget_burn/locker_buffer")
    proposal = page.locator(f'[data-testid=proposals] tr[data-proposal="{_IDS["proposal"]}"]')
    expect(proposal).to_contain_text("awaiting_approval")
    expect(proposal).to_contain_text("F401")
    expect(proposal).to_contain_text("calc.py")
    expect(proposal).to_contain_text("green")
    expect(proposal.locator("a")).to_have_text(_IDS["proposal_gate"])
    page.locator(f'[data-testid=campaigns] tr[data-campaign="{waiting}"] a').click()
    page.wait_for_url(re.compile(rf".*/ops/campaigns/{waiting}$"))
    expect(page.get_by_test_id("campaign-status")).to_have_text("active")
    n = int(_IDS["waiting_sends"])
    assert n > 0
    expect(page.get_by_test_id("waiting")).to_contain_text(f"{n} sends and 0 interviews wait")
    expect(page.locator("[data-testid=sends] tr")).to_have_count(n + 1)
    page.goto(f"/ops/campaigns/{done}")
    expect(page.get_by_test_id("campaign-spend")).to_contain_text("3.00")
    expect(page.get_by_test_id("campaign-pipeline")).to_contain_text("3 contacted")


def test_a_campaign_that_hired_shows_its_interviews(opage: Page, ops_service: LiveService) -> None:
    """The campaign that met its objective: hires against the objective in the list, and on
    its page the interviews with their slots and outcomes, one of them a hire."""
    page = opage
    sign_in(page, ops_service, "victor", then="/ops")
    hired = _IDS["hired"]
    expect(page.get_by_test_id(f"status-{hired}")).to_have_text("objective_met")
    expect(page.get_by_test_id(f"hires-{hired}")).to_have_text("1 / 1")
    page.locator(f'[data-testid=campaigns] tr[data-campaign="{hired}"] a').click()
    page.wait_for_url(re.compile(rf".*/ops/campaigns/{hired}$"))
    expect(page.get_by_test_id("campaign-hires")).to_have_text("1 of 1 wanted")
    expect(page.get_by_test_id("campaign-interviews")).to_contain_text("attended")
    rows = page.locator("[data-testid=interviews] tr[data-interview]")
    expect(rows.first).to_be_visible()
    expect(page.locator("[data-testid=interviews]")).to_contain_text("hired")
    slot = rows.first.locator("td").nth(2).inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:00:00Z", slot), slot


def test_an_unknown_campaign_is_a_404_page(opage: Page, ops_service: LiveService) -> None:
    """A malformed or unknown id is the not-found page."""
    sign_in(opage, ops_service, "victor", then="/ops")
    for path in ("/ops/campaigns/nope", "/ops/campaigns/cmp-000000000000"):
        response = opage.goto(path)
        assert response is not None
        assert response.status == 404
