"""parse_day: the days a question may name, and a clear refusal of anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tailguard.errors import InvalidInputError
from tailguard.roles.fieldservice.days import parse_day

NOW = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(now=NOW)
def test_relative_days(now: datetime) -> None:
    today, _ = parse_day("today", now)
    assert today <= now < today + timedelta(days=1)
    assert parse_day("Yesterday", now)[0] == today - timedelta(days=1)
    assert parse_day(" 3 days  ago ", now)[0] == today - timedelta(days=3)
    assert parse_day("1 day ago", now)[0] == today - timedelta(days=1)


@given(now=NOW, day=st.dates(min_value=datetime(1900, 1, 1).date()))
def test_iso_dates_name_that_utc_day(now: datetime, day: object) -> None:
    start, end = parse_day(day.isoformat(), now)  # type: ignore[attr-defined]
    assert start.date() == day
    assert end - start == timedelta(days=1)
    assert start.tzinfo is UTC


@given(now=NOW, text=st.text(max_size=30))
def test_anything_else_is_refused_clearly_or_is_a_day(now: datetime, text: str) -> None:
    message = ""
    try:
        start, end = parse_day(text, now)
    except InvalidInputError as exc:
        message = str(exc)
    if message:
        assert "day" in message
    else:
        assert end - start == timedelta(days=1)


@pytest.mark.parametrize(
    "text", ["tomorrow", "2026-13-01", "20261201", "yesterday-ish", "-1 days ago"]
)
def test_examples_refused(text: str) -> None:
    with pytest.raises(InvalidInputError, match="day"):
        parse_day(text, datetime.now(UTC))


def test_naive_now_refused() -> None:
    with pytest.raises(InvalidInputError):
        parse_day("today", datetime(2030, 1, 1))
