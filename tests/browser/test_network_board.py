"""The network board: severity told by more than colour, a table of areas, "no data" bands."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .conftest import LiveService, sign_in


def test_the_board_names_severity_lists_areas_and_says_no_data(
    page: Page, service: LiveService
) -> None:
    """Each cell carries its severity in words and a mark; the areas outside a band are listed
    worst first (and by area on request); a band nobody has data for says "no data"."""
    sign_in(page, service, "victor", then="/network")
    cell = page.locator('[data-testid=netgrid] a[data-area="PA-0007"]')
    expect(cell).to_have_attribute("aria-label", re.compile(r"^PA-0007: (\d|1 band|no data)"))
    expect(cell.locator(".sev")).to_have_text(re.compile(r"^(!{1,3}|–)$"))
    rows = page.locator("[data-testid=area-table] tr[data-area]")
    expect(rows.first).to_be_visible()
    marks = [len(t.split(" ")[0]) for t in rows.locator("td:nth-child(2)").all_inner_texts()]
    scored = [
        m
        for m, t in zip(marks, rows.locator("td:nth-child(2)").all_inner_texts(), strict=True)
        if "no data" not in t
    ]
    assert scored == sorted(scored, reverse=True)
    expect(page.get_by_test_id("band-outside").filter(has_text="no data")).to_have_count(1)
    page.get_by_role("link", name="Area", exact=True).click()
    areas = page.locator("[data-testid=area-table] tr[data-area]").evaluate_all(
        "rows => rows.map(r => r.getAttribute('data-area'))"
    )
    assert areas == sorted(areas)
