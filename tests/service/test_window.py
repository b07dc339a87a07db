"""Dashboards' time windows: absolute dates, and the ledger's own span when "now" has no data."""

from __future__ import annotations

import re
from datetime import timedelta

from .conftest import Service


def _sign_in(web: Service, who: str = "alice") -> None:
    form = web.client.get("/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    signed = web.client.post("/signin", data={"csrf": csrf.group(1), "api_key": web.keys[who]})
    assert signed.status_code == 200, signed.text


def test_a_ledger_older_than_the_window_is_shown_from_its_own_span(web: Service) -> None:
    """Two months after the last run, "last 7 days" shows the ledger's last 7 days, and says so."""
    run_id = web.gated_call("olga", account="acc-old")["run_id"]
    recorded = web.clock.now().date().isoformat()
    web.clock.advance(timedelta(days=60))
    _sign_in(web)
    page = web.client.get("/runs?days=7")
    assert page.status_code == 200
    assert "Nothing was recorded in the last 7 days" in page.text
    assert f"to {recorded}" in page.text
    assert run_id in page.text
    costs = web.client.get("/costs").text
    assert "showing the ledger&#39;s own data" in costs


def test_an_absolute_date_range_shows_those_days_only(web: Service) -> None:
    """from/to pick whole UTC days: the run's day shows it, the day after does not."""
    run_id = web.gated_call("olga", account="acc-day")["run_id"]
    day = web.clock.now().date()
    _sign_in(web)
    shown = web.client.get(f"/runs?from={day.isoformat()}&to={day.isoformat()}").text
    assert run_id in shown
    assert f'name="from" value="{day.isoformat()}"' in shown
    after = (day + timedelta(days=1)).isoformat()
    assert run_id not in web.client.get(f"/runs?from={after}&to={after}").text


def test_a_bad_date_range_is_a_422_naming_the_field(web: Service) -> None:
    """A date that is not YYYY-MM-DD, from after to, or half a range are refused."""
    _sign_in(web)
    for query, reason in (
        ("from=yesterday&to=2026-03-02", "from must be a date"),
        ("from=2026-03-05&to=2026-03-02", "from must not be after to"),
        ("from=2026-03-02", "needs both from and to"),
        ("from=2020-01-01&to=2026-03-02", "at most 366 days"),
    ):
        page = web.client.get(f"/runs?{query}")
        assert page.status_code == 422, query
        assert reason in page.text


def test_the_audit_log_keeps_to_the_absolute_range(web: Service) -> None:
    """A decision made the day after the range is left out of that range's audit log."""
    first = web.gated_call("olga", account="acc-aud-1")["gate_id"]
    web.state.plane.decide(first, "reject", "alice", reason="day one")
    day = web.clock.now().date()
    web.clock.advance(timedelta(days=1))
    second = web.gated_call("olga", account="acc-aud-2")["gate_id"]
    web.state.plane.decide(second, "reject", "alice", reason="day two")
    _sign_in(web)
    page = web.client.get(f"/audit?from={day.isoformat()}&to={day.isoformat()}").text
    assert "day one" in page
    assert "day two" not in page
