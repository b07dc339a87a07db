"""Sprint missions: who gets one, what it asks, how progress is counted from the events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from tailguard.errors import InvalidInputError
from tailguard.gamification.missions import MissionBook, MissionConfig

NOW = datetime(2026, 3, 9, 0, tzinfo=UTC)


def scores(n: int = 8, area: str = "PA-0001") -> pl.DataFrame:
    """``n`` techs ranked 1..n; T7 and T8 are the tail; T8's NPS is its weakest part."""
    return pl.DataFrame(
        [
            {
                "area_id": area,
                "tech_id": f"T{k}",
                "area_rank": k,
                "area_size": n,
                "fix_z": -1.0 if k == 7 else 0.5,
                "nps_z": -2.0 if k == 8 else 0.0,
            }
            for k in range(1, n + 1)
        ]
    )


def event(
    kind: str,
    tech: str,
    hours: float,
    *,
    fixed: bool | None = None,
    nps: int | None = None,
    recall_of: str | None = None,
) -> dict[str, Any]:
    return {
        "type": kind,
        "tech_id": tech,
        "ts": NOW + timedelta(hours=hours),
        "first_time_fix": fixed,
        "recall_of_job_id": recall_of,
        "nps": nps,
    }


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"ts": pl.Datetime("us", "UTC"), "nps": pl.Int64})


def test_the_tail_gets_missions_aimed_at_its_weakest_part() -> None:
    book = MissionBook(MissionConfig(treat_share=0.999), seed=1)
    new = book.propose(scores(), NOW)
    assert sorted((m.tech_id, m.metric) for m in new) == [("T7", "fix"), ("T8", "nps")]
    t7 = next(m for m in new if m.tech_id == "T7")
    assert t7.text == "fix at least 4 of your next 5 first visits: 500 XP"
    assert book.propose(scores(), NOW + timedelta(days=1)) == []  # one open mission per tech


def test_eligible_techs_are_randomised_into_missions_and_a_control_group() -> None:
    book = MissionBook(MissionConfig(tail_share=0.5, treat_share=0.5), seed=3)
    frames = pl.concat(
        [
            scores(40, area).with_columns((pl.lit(area + "-") + pl.col("tech_id")).alias("tech_id"))
            for area in (f"PA-{a:04d}" for a in range(1, 11))
        ]
    )
    new = book.propose(frames, NOW)
    eligible = 10 * 20
    assert len(new) + len(book.control) == eligible
    assert 70 <= len(new) <= 130
    assert not {m.tech_id for m in new} & set(book.control)


def test_progress_counts_first_visits_and_surveys_after_the_start() -> None:
    book = MissionBook(MissionConfig(treat_share=0.999), seed=1)
    book.propose(scores(), NOW)
    rows = [event("job.completed", "T7", -1, fixed=True)]  # before the mission: not counted
    rows += [event("job.completed", "T7", h, fixed=h != 2) for h in range(1, 5)]
    rows += [event("job.completed", "T7", 5, fixed=True, recall_of="J1")]  # a recall: no
    rows += [event("job.completed", "T7", 6, fixed=False)]
    rows += [event("cx.survey", "T8", h, nps=9 if h < 4 else 6) for h in range(1, 6)]
    ended = book.ingest(frame(rows))
    by_tech = {m.tech_id: m for m in ended}
    assert (by_tech["T7"].seen, by_tech["T7"].hits, by_tech["T7"].status) == (5, 3, "failed")
    assert (by_tech["T8"].seen, by_tech["T8"].hits, by_tech["T8"].status) == (5, 3, "completed")
    counts = book.counts()
    assert (counts["completed"], counts["failed"], counts["xp"]) == (1, 1, 500)


def test_an_unfinished_mission_expires() -> None:
    book = MissionBook(MissionConfig(treat_share=0.999, days=7), seed=1)
    book.propose(scores(), NOW)
    book.ingest(frame([event("job.completed", "T7", 1, fixed=True)]))
    assert book.expire(NOW + timedelta(days=6)) == []
    assert {m.tech_id for m in book.expire(NOW + timedelta(days=7))} == {"T7", "T8"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tail_share": 0.0},
        {"treat_share": 1.0},
        {"fix_target": 6},
        {"nps_target": 0},
        {"days": 0},
        {"xp": -1},
    ],
)
def test_bad_mission_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError):
        MissionConfig(**kwargs)
