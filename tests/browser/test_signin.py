"""Sign-in, sessions and what a browser without one may see."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .conftest import LiveService, sign_in

PAGES = [
    "/approvals",
    "/runs",
    "/costs",
    "/audit",
    "/audit.csv",
    "/quality",
    "/network",
    "/network/PA-0007",
    "/chat",
    "/chat/recruiter",
]


@pytest.mark.parametrize("path", PAGES)
def test_dashboard_pages_redirect_to_sign_in_without_a_session(
    page: Page, service: LiveService, path: str
) -> None:
    """No dashboard page answers without a session: the browser lands on the sign-in page."""
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    expect(page.locator("#api_key")).to_be_visible()


def test_sign_in_page_and_static_assets_are_public(service: LiveService) -> None:
    """The sign-in page and the local CSS/JS answer without a session; nothing else does."""
    assert httpx.get(service.url("/signin")).status_code == 200
    css = httpx.get(service.url("/static/web/web.css"))
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert httpx.get(service.url("/static/web/inbox.js")).status_code == 200
    assert httpx.get(service.url("/static/web/../settings.py")).status_code == 404
    assert httpx.get(service.url("/approvals/feed.json")).status_code == 401


def test_a_wrong_key_is_refused(page: Page, service: LiveService) -> None:
    """An unknown key keeps the browser on the sign-in page with a reason and no session."""
    page.goto("/signin")
    page.fill("#api_key", "tg_0123456789abcdef_" + "x" * 43)
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")
    page.goto("/runs")
    expect(page).to_have_url(re.compile(r"/signin"))


def test_sign_in_sets_a_protected_session_cookie_and_sign_out_ends_it(
    page: Page, context: BrowserContext, service: LiveService
) -> None:
    """The session cookie is HttpOnly and SameSite=Lax, holds no key, and sign-out removes it."""
    sign_in(page, service, "victor", then="/runs")
    expect(page.locator("header .me")).to_contain_text("victor")
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["tg_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert service.seeded.keys["victor"].split("_", 2)[2] not in session["value"]
    page.click("header .me button")
    expect(page).to_have_url(re.compile(r"/signin$"))
    assert "tg_session" not in {c["name"] for c in context.cookies()}
    page.goto("/runs")
    expect(page).to_have_url(re.compile(r"/signin\?next="))


def test_sign_in_form_without_its_token_is_refused(service: LiveService) -> None:
    """A sign-in post lacking the form's CSRF token (a cross-site login) starts no session."""
    response = httpx.post(
        service.url("/signin"), data={"api_key": service.seeded.keys["alice"], "csrf": "forged"}
    )
    assert response.status_code == 403
    assert "tg_session" not in response.cookies


def test_a_tampered_session_cookie_is_ignored(
    page: Page, context: BrowserContext, service: LiveService
) -> None:
    """Changing one character of the signed cookie makes it worthless."""
    sign_in(page, service, "alice")
    cookie = next(c for c in context.cookies() if c["name"] == "tg_session")
    value = cookie["value"]
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    context.clear_cookies()
    context.add_cookies([{**cookie, "value": flipped}])
    page.goto("/approvals")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
