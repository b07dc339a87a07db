"""The coaches' page in the browser: exporters, importers, laggards, and a governed nudge."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tailguard.ledger import Ledger

from .conftest import LiveService, sign_in


def _csrf(page: Page) -> str:
    token = page.locator("header .me input[name=csrf]").get_attribute("value")
    assert token
    return token


def _nudges(service: LiveService) -> list[dict[str, object]]:
    with Ledger.open(service.ledger_url) as ledger:
        return [dict(r.fields) for r in ledger.records(kind="crowd_nudge")]


def test_coaches_page_lists_exporters_importers_and_laggards(
    page: Page, service: LiveService
) -> None:
    """From the navigation, a viewer sees the leaderboard, the importers and the laggards,
    without nudge buttons."""
    sign_in(page, service, "victor", then="/network")
    page.locator("header nav a", has_text="Coaches").click()
    page.wait_for_url("**/coaches")
    assert service.seeded.crowd_imports
    importer, tactic, _kpi = service.seeded.crowd_imports[0]
    row = page.locator(f'[data-testid=importers] tr[data-area="{importer}"]')
    expect(row).to_contain_text(tactic)
    leaders = page.locator("[data-testid=leaderboard] tr[data-area]")
    expect(leaders).not_to_have_count(0)
    if page.get_by_test_id("leaderboard-more").count():
        expect(leaders).to_have_count(50)  # the rest are in GET /v1/crowd/reputation
    expect(page.locator("[data-testid=laggards] tr[data-area]")).not_to_have_count(0)
    expect(page.get_by_test_id("areas-count")).to_have_text("240")
    expect(page.locator("form[action='/coaches/nudge']")).to_have_count(0)
    forged = page.request.post(
        "/coaches/nudge",
        form={"csrf": _csrf(page), "area_id": importer, "tactic": tactic},
        max_redirects=0,
    )
    assert forged.status == 403


def test_an_operator_nudges_a_laggard_and_the_ledger_records_it(
    page: Page, service: LiveService
) -> None:
    """Olga sends a nudge with a note; the flash confirms it and the ledger names her; a post
    without the session's CSRF token is refused."""
    sign_in(page, service, "olga", then="/coaches")
    first = page.locator("[data-testid=laggards] tr[data-area]").first
    area = first.get_attribute("data-area")
    assert area
    form = page.get_by_test_id(f"nudge-{area}")
    tactic = form.locator("select[name=tactic]").input_value()
    before = len(_nudges(service))
    forged = page.request.post(
        "/coaches/nudge",
        form={"csrf": "not-the-token", "area_id": area, "tactic": tactic},
        max_redirects=0,
    )
    assert forged.status == 403
    assert len(_nudges(service)) == before
    form.locator("input[name=note]").fill("your cluster gains with this one")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text(f"Nudged {area} towards {tactic}")
    nudges = _nudges(service)
    assert len(nudges) == before + 1
    assert nudges[-1]["area_id"] == area
    assert nudges[-1]["tactic"] == tactic
    assert nudges[-1]["coach_id"] == "olga"
    assert nudges[-1]["coach_note"] == "your cluster gains with this one"
