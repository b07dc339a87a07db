"""The compendium pages in the browser: departments and freshness, search, a card's history."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tailguard.clock import SystemClock
from tailguard.compendium import Compendium, curate, default_dir
from tailguard.control import (
    ControlPlane,
    Evaluation,
    Policy,
    RiskLevel,
    RunView,
    Tool,
    ToolRegistry,
)
from tailguard.ledger import Ledger

from .conftest import LiveService, live_service, sign_in


class _GoalScorer:
    """Scores a run with the ``q=NN`` of its goal text (exact numbers for the assertions)."""

    def score(self, view: RunView) -> Evaluation:
        goal = str(view.run["goal_text"])
        q = float(goal.split("q=")[1]) if "q=" in goal else 50.0
        return Evaluation(quality_score=q, objective_met="yes")


def _curate(ledger_url: str) -> None:
    """Twelve recruiter runs that used ``lookup`` (quality 70..81), then one curation."""
    clock = SystemClock()
    registry = ToolRegistry()
    registry.register(
        Tool(
            name="lookup",
            description="look",
            parameters={"type": "object"},
            handler=lambda args, ctx: {"ok": True},
            policy=Policy(risk_level=RiskLevel.READ, idempotent=True),
        )
    )
    with Ledger.open(ledger_url, clock=clock) as ledger:
        plane = ControlPlane(registry, ledger, clock=clock, scorer=_GoalScorer())
        for k in range(12):
            run = plane.start_run("recruiter", "rec-001", f"look q={70 + k}")
            plane.execute(run, "lookup", {})
            plane.finish_run(run)
        curate(plane, Compendium(default_dir(ledger_url)))


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    """A service of its own (the shared one's ledger stays as the other tests expect), over a
    seeded ledger whose recruiter runs have been curated into the default directory."""
    with live_service(tmp_path_factory.mktemp("compendium-web"), prepare=_curate) as live:
        yield live


@pytest.fixture
def cpage(browser: Browser, curated: LiveService) -> Iterator[Page]:
    """A fresh profile on the compendium's service."""
    ctx = browser.new_context(base_url=curated.base_url, viewport={"width": 1360, "height": 900})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def test_a_viewer_browses_searches_and_reads_a_cards_history(
    cpage: Page, curated: LiveService
) -> None:
    """From the navigation: the recruiter department is fresh, a search finds the lookup card,
    its page shows the numbers and the history with outcome ids that are in the ledger, and
    the file page lists the card."""
    page = cpage
    sign_in(page, curated, "victor", then="/network")
    page.locator("header nav a", has_text="Compendium").click()
    page.wait_for_url("**/compendium")
    expect(page.get_by_test_id("fresh-recruiter")).to_have_text("yes")
    row = page.locator('[data-testid=departments] tr[data-dept="recruiter"]')
    expect(row).to_contain_text("recruiter")
    page.fill("input[name=q]", "lookup recruiter")
    page.locator("[data-testid=compendium-search] button").click()
    hit = page.locator('[data-testid=hits] tr[data-card="role-recruiter/lookup"]')
    expect(hit).to_contain_text("proven")
    hit.locator("a").first.click()
    page.wait_for_url(re.compile(r".*/compendium/card\?id=.+"))
    expect(page.get_by_test_id("card-now")).to_contain_text("quality_score +75.50")
    history = page.locator("[data-testid=card-history] tr")
    expect(history).to_have_count(2)
    cell = history.nth(1).locator("td").nth(4).inner_text()
    with Ledger.open(curated.ledger_url) as ledger:
        outcomes = {r.record_id for r in ledger.records(kind="outcome")}
    assert cell
    assert set(cell.split(", ")) <= outcomes
    page.locator("p.sub a.mono").click()
    page.wait_for_url(re.compile(r".*/compendium/file\?path=.+"))
    expect(
        page.locator('[data-testid=file-cards] tr[data-card="role-recruiter/lookup"]')
    ).to_have_count(1)
    expect(page.get_by_test_id("file-text")).to_contain_text("<!-- card: role-recruiter/lookup -->")


def test_an_unknown_card_is_a_404_page(cpage: Page, curated: LiveService) -> None:
    """A card id nobody wrote is the not-found page, not an error."""
    sign_in(cpage, curated, "victor", then="/compendium")
    response = cpage.goto("/compendium/card?id=nope")
    assert response is not None
    assert response.status == 404
