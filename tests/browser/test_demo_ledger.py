"""The first hour on a demo's ledger, in the browser: the commands the demo prints, then the
dashboards' dates. A demo simulates January 2026, long before today, so "the last 7 days" is
empty: the pages show the ledger's own span and say so, and an absolute date range narrows them
to the days asked for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import _free_port, serving

DEMO = ["demo", "--areas", "2", "--weeks", "1", "--warmup-days", "1", "--no-weekly"]


@dataclass
class DemoService:
    base_url: str
    key: str
    first: date
    last: date


def _tailguard(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "tailguard", *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def demo_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoService]:
    """``tailguard demo``, then the two commands it prints: a key, and the service over the
    demo's ledger."""
    out = tmp_path_factory.mktemp("first-hour") / "demo"
    printed = _tailguard(*DEMO, "--out", str(out)).stdout
    key_cmd = next(line.split() for line in printed.splitlines() if "keys create" in line)
    made = _tailguard(*key_cmd[1:]).stdout
    key = re.search(r"tg_[A-Za-z0-9_\-]+", made)
    assert key is not None, made
    serve_cmd = next(line.split() for line in printed.splitlines() if "tailguard serve" in line)
    port = _free_port()
    serve = [*serve_cmd[1:-2], "--port", str(port)]  # the printed command on a free port
    with serving([sys.executable, "-m", "tailguard", *serve], port, out / "serve.log") as base:
        summary = json.loads((out / "summary.json").read_text())
        first, last = (date.fromisoformat(summary[k][:10]) for k in ("start", "end"))
        yield DemoService(base, key.group(0), first, last)


@pytest.fixture
def demo_page(browser: Browser, demo_service: DemoService) -> Iterator[Page]:
    """A fresh profile signed in with the key the demo's printed command created."""
    ctx = browser.new_context(
        base_url=demo_service.base_url, viewport={"width": 1280, "height": 900}
    )
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        page.goto("/signin?next=/runs")
        page.fill("#api_key", demo_service.key)
        page.click("button[type=submit]")
        page.wait_for_url("**/runs")
        yield page
    finally:
        ctx.close()


def _runs_started(page: Page) -> int:
    value = page.locator(".kpi", has_text="runs started").locator(".v").inner_text()
    return int(value.replace(",", ""))


def _show_dates(page: Page, first: date, last: date) -> None:
    form = page.get_by_test_id("date-range")
    form.locator("input[name=from]").fill(first.isoformat())
    form.locator("input[name=to]").fill(last.isoformat())
    form.get_by_role("button", name="Show these dates").click()
    page.wait_for_url(f"**from={first.isoformat()}&to={last.isoformat()}*")


def test_the_run_monitor_opens_on_the_demo_ledgers_own_span(
    demo_page: Page, demo_service: DemoService
) -> None:
    """Today is long after the simulated weeks: the page says so and shows the ledger's days,
    and the range form starts on them."""
    note = demo_page.get_by_test_id("window-note")
    expect(note).to_contain_text("Nothing was recorded in the last 7 days")
    expect(note).to_contain_text(demo_service.last.isoformat())
    form = demo_page.get_by_test_id("date-range")
    expect(form).to_contain_text(f"The ledger holds {demo_service.first.isoformat()}")
    assert _runs_started(demo_page) > 0


def test_an_absolute_date_range_narrows_the_run_monitor_to_those_days(
    demo_page: Page, demo_service: DemoService
) -> None:
    """One simulated day shows fewer runs than the whole span, every recent run started that
    day; a day before the simulation shows none; the cost page keeps the range."""
    whole = _runs_started(demo_page)
    day = demo_service.first + timedelta(days=2)
    _show_dates(demo_page, day, day)
    expect(demo_page.get_by_test_id("window-note")).to_have_count(0)
    one_day = _runs_started(demo_page)
    assert 0 < one_day < whole
    started = demo_page.locator("h2:has-text('Recent runs') + .table-wrap tr td:nth-child(6)")
    expect(started.first).to_be_visible()
    assert all(text.startswith(day.isoformat()) for text in started.all_inner_texts())

    before = demo_service.first - timedelta(days=30)
    _show_dates(demo_page, before, before)
    assert _runs_started(demo_page) == 0
    expect(demo_page.get_by_text("No runs in this window.")).to_be_visible()

    demo_page.goto(f"/costs?from={day.isoformat()}&to={day.isoformat()}")
    costs_form = demo_page.get_by_test_id("date-range")
    expect(costs_form.locator("input[name=from]")).to_have_value(day.isoformat())
    expect(costs_form.locator("input[name=to]")).to_have_value(day.isoformat())
