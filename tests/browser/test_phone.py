"""Every page at 390 px (a phone) and at 1280 px: no sideways scrolling, the menu folds."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import LiveService

PAGES = (
    "/approvals",
    "/runs",
    "/costs",
    "/audit",
    "/quality",
    "/network",
    "/network/PA-0007",
    "/learning",
    "/coaches",
    "/compendium",
    "/gamification",
    "/ops",
    "/chat",
)


@pytest.fixture(params=[390, 1280], ids=["phone", "desktop"])
def sized(request: pytest.FixtureRequest, browser: Browser, service: LiveService) -> Iterator[Page]:
    """A fresh profile at the given width, signed in as victor (viewer)."""
    width = int(request.param)
    ctx = browser.new_context(base_url=service.base_url, viewport={"width": width, "height": 844})
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    page.goto("/signin?next=/approvals")
    page.fill("#api_key", service.seeded.keys["victor"])
    page.click("button[type=submit]")
    page.wait_for_url("**/approvals")
    try:
        yield page
    finally:
        ctx.close()


def test_no_page_scrolls_sideways(sized: Page) -> None:
    """Each page fits its width: wide tables and charts scroll inside their own frame."""
    width = sized.viewport_size["width"] if sized.viewport_size else 0
    too_wide = {}
    for path in PAGES:
        sized.goto(path)
        expect(sized.locator("main")).to_be_visible()
        scroll = sized.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            too_wide[path] = scroll
    assert too_wide == {}


def test_the_header_folds_into_a_menu_on_a_phone(sized: Page) -> None:
    """At 390 px the navigation hides behind Menu and opens on a tap; at 1280 px it shows."""
    nav = sized.locator("header.top nav")
    if sized.viewport_size and sized.viewport_size["width"] < 700:
        expect(nav).to_be_hidden()
        sized.get_by_test_id("menu-button").click()
        expect(nav).to_be_visible()
        nav.get_by_role("link", name="Network").click()
        expect(sized).to_have_url(re.compile(r"/network$"))
    else:
        expect(sized.get_by_test_id("menu-button")).to_be_hidden()
        expect(nav).to_be_visible()
        # Every link sits inside the header's band (a wrapped row once spilled over its top).
        header = sized.locator("header.top").bounding_box()
        assert header is not None
        for link in nav.get_by_role("link").all():
            box = link.bounding_box()
            assert box is not None
            assert header["y"] <= box["y"]
            assert box["y"] + box["height"] <= header["y"] + header["height"]
