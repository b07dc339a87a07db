"""The gamification pages in the browser, on a phone (390 px) and a desktop (1280 px): the
operator's leaderboard lists opted-in technicians only; a technician reads their score and
streak and leaves the leaderboard."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import polars as pl
import pytest
from playwright.sync_api import Browser, Page, expect

from tailguard.clock import SystemClock
from tailguard.gamification.replays import ReplayLibrary
from tailguard.gamification.store import SCORE_COLUMNS, GameStore
from tailguard.ledger import Ledger
from tailguard.service.auth import KeyStore

from .conftest import LiveService, live_service, sign_in

TECH_KEY: dict[str, str] = {}


def _programme(ledger_url: str) -> None:
    with Ledger.open(ledger_url, clock=SystemClock()) as ledger:
        store = GameStore(ledger)
        now = datetime.now(UTC)
        store.put_arms(
            {"PA-0001": {"ftf_bonus_usd": 10.0, "kit_value_usd": 50.0, "propensity": 0.25}}
        )
        rows = [
            (
                "PA-0001",
                f"T00000{k}",
                30 - k,
                120.0 - 6 * k,
                0.0,
                0.0,
                0.0,
                85.0 - k,
                k,
                4,
                100.0,
                114.0,
            )
            for k in range(1, 5)
        ]
        rows.append(("PA-0002", "T000005", 30, 130.0, 0.0, 0.0, 0.0, 90.0, 1, 1, 100.0, 114.0))
        store.put_week(
            date(2026, 2, 23), pl.DataFrame(rows, schema=list(SCORE_COLUMNS), orient="row")
        )
        store.put_streaks(
            [{"tech_id": "T000001", "area_id": "PA-0001", "current": 7, "length": 10, "awarded": 2}]
        )
        store.seed_opt_ins(["T000001", "T000002", "T000004", "T000005"], by="field-app", now=now)
        # A team goal met in PA-0001, a replay by T000005 that T000002 watched.
        store.put_action(
            "team-1", at=now, kind="award_team_bonus", area_id="PA-0001", tech_id=None,
            usd=100.0, status="executed", detail="team FTF 90.2 % in the week of 2026-02-23",
        )  # fmt: skip
        library = ReplayLibrary(store)
        library.put_weak(
            date(2026, 2, 23),
            pl.DataFrame(
                {"tech_id": ["T000002"], "job_code": ["FR-REPAIR"], "fix_z": [-1.2], "jobs": [5]}
            ),
        )
        replay = library.publish(
            "T000005", job_code="FR-REPAIR", model="WRF555", summary="replaced the start relay",
            outcome="fixed, no recall", media_ref="fieldapp://rec/1", now=now,
        )  # fmt: skip
        library.view(replay, "T000002", now)
        TECH_KEY["T000001"] = KeyStore(ledger.engine).create("T000001", "viewer")[1]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    with live_service(tmp_path_factory.mktemp("gamification-web"), prepare=_programme) as svc:
        yield svc


@pytest.fixture(params=[390, 1280], ids=["phone", "desktop"])
def gpage(request: pytest.FixtureRequest, browser: Browser, live: LiveService) -> Iterator[Page]:
    width = int(request.param)
    ctx = browser.new_context(base_url=live.base_url, viewport={"width": width, "height": 844})
    ctx.set_default_timeout(15_000)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def _fits(page: Page) -> None:
    """The page's content is no wider than the screen: no sideways scrolling to read it."""
    overflow = page.evaluate(
        "(() => { const m = document.querySelector('main');"
        " return Math.max(...[...m.querySelectorAll('*')].map(e => e.getBoundingClientRect().right))"
        " - window.innerWidth; })()"
    )
    assert overflow <= 1, f"the content is {overflow}px wider than the screen"


def test_the_operator_sees_opted_in_techs_only(gpage: Page, live: LiveService) -> None:
    sign_in(gpage, live, "victor", then="/gamification")
    board = gpage.get_by_test_id("board")
    expect(board.locator("tr[data-tech]")).to_have_count(3)
    expect(board.locator('tr[data-tech="T000003"]')).to_have_count(0)
    expect(board.locator("tr[data-tech]").first).to_have_attribute("data-tech", "T000001")
    _fits(gpage)


def test_a_tech_reads_their_page_and_leaves_the_board(gpage: Page, live: LiveService) -> None:
    gpage.goto("/signin?next=/tech/T000001")
    gpage.fill("#api_key", TECH_KEY["T000001"])
    gpage.click("button[type=submit]")
    gpage.wait_for_url("**/tech/T000001")
    expect(gpage.get_by_test_id("techpower")).to_have_text("114")
    expect(gpage.get_by_test_id("rank")).to_contain_text("1")
    expect(gpage.get_by_test_id("streak")).to_have_attribute("aria-valuenow", "7")
    _fits(gpage)
    state = gpage.get_by_test_id("optin-state")
    expect(state).to_contain_text("You are shown")
    gpage.get_by_test_id("optin-toggle").click()
    expect(gpage.locator(".flash")).to_have_text("You are off the leaderboard.")
    expect(state).to_contain_text("not shown")
    gpage.get_by_test_id("optin-toggle").click()  # and back, for the other tests
    expect(gpage.get_by_test_id("optin-state")).to_contain_text("You are shown")


def test_a_tech_page_shows_badges_and_replays_watched(gpage: Page, live: LiveService) -> None:
    sign_in(gpage, live, "victor", then="/tech/T000001")
    gallery = gpage.get_by_test_id("badges")
    expect(gallery.locator("li[data-badge]")).to_have_count(3)
    expect(gallery.locator('li[data-badge="kit_streak"] .count')).to_have_text("2")
    expect(gallery.locator('li[data-badge="team_goal"]')).to_contain_text("90.2 %")
    expect(gallery.locator('li[data-badge="top_tenth"]')).to_be_visible()
    _fits(gpage)
    gpage.goto("/tech/T000005")
    expect(gpage.get_by_test_id("badges").locator("li[data-badge]")).to_have_count(2)
    expect(gpage.locator('li[data-badge="replay_author"] .count')).to_have_text("1")
    expect(gpage.get_by_test_id("replays-viewed-none")).to_be_visible()
    gpage.goto("/tech/T000002")
    expect(gpage.get_by_test_id("badges").locator("li[data-badge]")).to_have_count(1)
    expect(gpage.get_by_test_id("replays-viewed").locator("li")).to_have_count(1)
    expect(gpage.get_by_test_id("replays-viewed")).to_contain_text("FR-REPAIR")
    expect(gpage.get_by_test_id("replays-viewed")).to_contain_text("T000005")
    expect(gpage.get_by_test_id("replays-for-you")).to_contain_text("replaced the start relay")
    _fits(gpage)
