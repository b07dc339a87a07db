"""Badges read from the programme's records, and the replays a technician watched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from tailguard.clock import FakeClock
from tailguard.gamification.badges import badges, replays_viewed
from tailguard.gamification.replays import ReplayLibrary
from tailguard.gamification.store import SCORE_COLUMNS, GameStore
from tailguard.ledger import Ledger

NOW = datetime(2026, 3, 9, 9, tzinfo=UTC)
WEEK = date(2026, 3, 2)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GameStore]:
    url = (
        f"sqlite:///{tmp_path / 'b.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    with Ledger.open(url, clock=FakeClock(NOW)) as ledger:
        store = GameStore(ledger)
        for week, top in ((WEEK - timedelta(days=7), 112.0), (WEEK, 120.0)):
            rows = [
                ("PA-0001", "T1", 30, top, 0, 0, 0, 80.0, 1, 3, 100.0, 115.0),
                ("PA-0001", "T2", 30, 100.0, 0, 0, 0, 80.0, 2, 3, 100.0, 115.0),
                ("PA-0002", "T3", 30, 116.0, 0, 0, 0, 80.0, 1, 1, 100.0, 115.0),
            ]
            store.put_week(week, pl.DataFrame(rows, schema=list(SCORE_COLUMNS), orient="row"))
        store.put_streaks(
            [{"tech_id": "T1", "area_id": "PA-0001", "current": 3, "length": 10, "awarded": 2}]
        )
        store.seed_opt_ins(["T1", "T2", "T3"], by="field-app", now=NOW)
        yield store


def _action(store: GameStore, n: int, kind: str, area: str, tech: str | None, status: str) -> None:
    store.put_action(
        f"s{n}", at=NOW, kind=kind, area_id=area, tech_id=tech, usd=25.0, status=status,
        detail="team FTF 90.1 % in the week of 2026-03-02",
    )  # fmt: skip


def test_each_badge_comes_from_its_record(store: GameStore) -> None:
    assert badges(store, "T2") == []
    _action(store, 1, "award_team_bonus", "PA-0001", None, "executed")
    _action(store, 2, "award_team_bonus", "PA-0001", None, "pending_approval")  # not paid
    _action(store, 3, "award_team_bonus", "PA-0002", None, "executed")  # another team
    _action(store, 4, "grant_xp", "PA-0001", "T1", "executed")
    mine = {b["badge"]: b for b in badges(store, "T1")}
    assert mine["top_tenth"]["count"] == 1  # 120 >= P90 115 in one week, 112 < 115 the other
    assert mine["kit_streak"]["count"] == 2
    assert mine["team_goal"]["count"] == 1
    assert mine["mission"]["count"] == 1
    assert "replay_author" not in mine
    assert [b["badge"] for b in badges(store, "T2")] == ["team_goal"]
    assert [b["badge"] for b in badges(store, "T3")] == ["top_tenth", "team_goal"]


def test_a_published_replay_is_a_badge_until_withdrawn_and_views_are_listed(
    store: GameStore,
) -> None:
    lib = ReplayLibrary(store)
    replay = lib.publish(
        "T1", job_code="FR-REPAIR", model="WRF555", summary="start relay", outcome="fixed",
        media_ref="https://v/1", now=NOW,
    )  # fmt: skip
    assert [b["count"] for b in badges(store, "T1") if b["badge"] == "replay_author"] == [1]
    assert replays_viewed(store, "T2") == []
    lib.view(replay, "T2", NOW)
    lib.view(replay, "T2", NOW + timedelta(hours=1))
    seen = replays_viewed(store, "T2")
    assert [(v["author"], v["job_code"], v["withdrawn"]) for v in seen] == [
        ("T1", "FR-REPAIR", False),
        ("T1", "FR-REPAIR", False),
    ]
    assert seen[0]["viewed_at"] > seen[1]["viewed_at"]
    store.set_opt_in("T1", False, by="T1", now=NOW)  # opting out withdraws the replay
    assert "replay_author" not in [b["badge"] for b in badges(store, "T1")]
    assert replays_viewed(store, "T2")[0]["withdrawn"] is True
