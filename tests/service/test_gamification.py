"""Gamification over HTTP and on the pages: a technician's own view, opt-in as the
technician's decision (recorded), the operator's leaderboard of opted-in technicians only."""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from tailguard.gamification.store import SCORE_COLUMNS, GameStore

from .conftest import Service

WEEK = date(2026, 2, 23)


def _seed(web: Service) -> GameStore:
    store = GameStore(web.state.ledger)
    now = web.clock.now()
    store.put_arms(
        {
            "PA-0001": {"ftf_bonus_usd": 10.0, "kit_value_usd": 50.0, "propensity": 0.25},
            "PA-0002": {"ftf_bonus_usd": 0.0, "kit_value_usd": 0.0, "propensity": 0.25},
        }
    )
    rows = [
        ("PA-0001", "T000001", 30, 121.5, 1.0, 1.2, 0.5, 88.0, 1, 3, 100.0, 114.0),
        ("PA-0001", "T000002", 25, 104.0, 0.2, 0.3, 0.1, 80.0, 2, 3, 100.0, 114.0),
        ("PA-0001", "T000003", 28, 96.0, -0.2, -0.3, 0.0, 75.0, 3, 3, 100.0, 114.0),
    ]
    store.put_week(WEEK, pl.DataFrame(rows, schema=list(SCORE_COLUMNS), orient="row"))
    store.put_streaks(
        [{"tech_id": "T000001", "area_id": "PA-0001", "current": 7, "length": 10, "awarded": 1}]
    )
    store.put_action(
        "step-1",
        at=now,
        kind="award_kit_bonus",
        area_id="PA-0001",
        tech_id="T000001",
        usd=50.0,
        status="executed",
    )
    store.put_action(
        "step-2",
        at=now,
        kind="withhold_fix_bonus",
        area_id=None,
        tech_id="T000003",
        usd=0.0,
        status="executed",
        detail="q=0.01",
    )
    store.seed_opt_ins(["T000001", "T000003"], by="field-app", now=now)
    return store


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html[:300]
    return match.group(1)


def _sign_in(web: Service, key: str, then: str) -> None:
    form = web.client.get("/signin")
    done = web.client.post(
        "/signin",
        data={"api_key": key, "csrf": _csrf(form.text), "next": then},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text


def test_the_api_shows_a_tech_and_a_board_of_opted_in_techs_only(service: Service) -> None:
    _seed(service)
    tech = service.client.get("/v1/gamification/techs/T000001", headers=service.h("vic"))
    assert tech.status_code == 200, tech.text
    body = tech.json()
    assert body["score"]["techpower"] == 121.5
    assert (body["score"]["area_rank"], body["score"]["area_size"]) == (1, 3)
    assert body["streak"] == {"current": 7, "length": 10, "awarded": 1, "prize_usd": 50.0}
    assert body["opted_in"] is True
    board = service.client.get(
        "/v1/gamification/leaderboard", params={"area_id": "PA-0001"}, headers=service.h("vic")
    ).json()
    assert [(r["board_rank"], r["tech_id"]) for r in board["rows"]] == [
        (1, "T000001"),
        (2, "T000003"),
    ]
    missing = service.client.get("/v1/gamification/techs/T999999", headers=service.h("vic"))
    assert missing.status_code == 404
    private = service.client.get("/v1/gamification/techs/T000002", headers=service.h("vic"))
    assert private.status_code == 403  # not opted in: only the tech and administrators
    assert (
        service.client.get("/v1/gamification/techs/T000002", headers=service.h("root")).json()[
            "score"
        ]["techpower"]
        == 104.0
    )
    summary = service.client.get("/v1/gamification/summary", headers=service.h("vic")).json()
    assert summary["spend"]["award_kit_bonus:executed"] == {"count": 1, "usd": 50.0}


def test_only_the_tech_or_an_admin_changes_the_opt_in_and_it_is_recorded(
    service: Service,
) -> None:
    store = _seed(service)
    _, tech_key = service.state.keys.create("T000002", "viewer")
    url = "/v1/gamification/techs/T000002/opt-in"
    other = service.client.put(url, json={"opted_in": True}, headers=service.h("olga"))
    assert other.status_code == 403
    bad = service.client.put(
        url, json={"opted_in": "yes"}, headers={"Authorization": f"Bearer {tech_key}"}
    )
    assert bad.status_code == 422
    done = service.client.put(
        url, json={"opted_in": True}, headers={"Authorization": f"Bearer {tech_key}"}
    )
    assert done.status_code == 200, done.text
    assert "T000002" in store.opted_in()
    records = [r.fields for r in service.state.ledger.records(kind="gamification")]
    assert records[-1] == {
        "gamification_id": records[-1]["gamification_id"],
        "action": "opted_in",
        "tech_id": "T000002",
        "by": "t000002",
    }
    off = service.client.put(
        "/v1/gamification/techs/T000001/opt-in", json={"opted_in": False}, headers=service.h("root")
    )
    assert off.status_code == 200
    assert "T000001" not in store.opted_in()


def test_the_pages_show_the_board_and_let_a_tech_leave_it(web: Service) -> None:
    _seed(web)
    _sign_in(web, web.keys["vic"], "/gamification")
    page = web.client.get("/gamification?area=PA-0001")
    assert page.status_code == 200, page.text[:300]
    assert 'data-tech="T000001"' in page.text
    assert 'data-tech="T000002"' not in page.text  # not opted in: scored, never listed
    assert 'data-testid="withheld-count">1<' in page.text
    mine = web.client.get("/tech/T000001").text
    assert 'data-testid="techpower">122<' in mine or 'data-testid="techpower">121<' in mine
    assert 'action="/tech/T000001/opt-in"' not in mine  # vic is not T000001
    other = web.client.get("/tech/T000002").text  # not opted in
    assert 'data-testid="tech-private"' in other
    assert 'data-testid="techpower"' not in other
    web.client.post("/signout", data={"csrf": _csrf(mine)})
    _, key = web.state.keys.create("T000001", "viewer")
    _sign_in(web, key, "/tech/T000001")
    mine = web.client.get("/tech/T000001").text
    left = web.client.post(
        "/tech/T000001/opt-in", data={"csrf": _csrf(mine), "value": "off"}, follow_redirects=True
    )
    assert "You are off the leaderboard." in left.text
    assert 'data-tech="T000001"' not in web.client.get("/gamification?area=PA-0001").text
