"""The recruiter autopilot past the replies: interviews booked behind their gate at a slot
computed from the campaign's clock, no-shows rebooked a bounded number of times, hires up to
the objective; restarts that never book twice, a rejection at the interview gate, the budget
spent on interviews. Clocks far in the past and far in the future prove nothing depends on
today's date."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.clock import FakeClock, parse_ts
from tailguard.compendium import Compendium, parse_cards
from tailguard.control import queries as control_queries
from tailguard.ops.campaign import CARDS_FILE, Autopilot, parse_spec
from tailguard.ops.campaign_interviews import (
    INTERVIEW_TOUCH,
    attempt_of,
    interview_slot,
    is_interview,
)
from tailguard.roles.recruiting import schema as t
from tailguard.roles.session import ChatStack, open_chat

RECRUITER = "rec-001"
# Both Mondays at 08:00 UTC, a century apart: the same weekday, so the same slots relative to
# the start, and neither anywhere near the day the tests run.
PAST = datetime(1990, 1, 1, 8, tzinfo=UTC)
FUTURE = datetime(2091, 1, 1, 8, tzinfo=UTC)
SEED = 8


def _spec(**over: Any) -> Any:
    profile = {
        "channels": ["sms", "email"],
        "cadence_hours": 24,
        "touches": 2,
        "daily_send_cap": 50,
        "budget_usd": 500.0,
        "cost_per_send_usd": 1.0,
        "interview_lead_hours": 24,
        "max_reschedules": 1,
        **over.pop("profile", {}),
    }
    return parse_spec(
        {
            "objective": "20 CDL-A flatbed drivers for the Dallas lane in 3 weeks",
            "recruiter_id": RECRUITER,
            "target_hires": 2,
            "max_candidates": 16,
            "seed": SEED,
            "profile": profile,
            **over,
        }
    )


@contextmanager
def _pilot(db: str, clock: FakeClock, tmp_path: Path) -> Iterator[tuple[Autopilot, ChatStack]]:
    """An autopilot on a fresh stack (a new process, as far as the database is concerned)."""
    stack = open_chat(db, clock=clock)
    try:
        yield (
            Autopilot(
                stack.control, compendium=Compendium(tmp_path / "compendium"), withdraw_as="admin"
            ),
            stack,
        )
    finally:
        stack.close()


def _decide(pilot: Autopilot, campaign_id: str, *, interviews: str = "approve") -> None:
    """The inbox: sends approved, interviews decided with ``interviews``."""
    for s in pilot.store.sends(campaign_id):
        if s.status == "pending" and s.gate_id:
            decision = interviews if is_interview(s) else "approve"
            pilot.control.decide(s.gate_id, decision, "admin")


def _booked(stack: ChatStack, campaign_id: str) -> list[dict[str, Any]]:
    """The interviews really booked in the recruiting store for the campaign's candidates
    (the dataset's own interviews are of candidacies past the lead stage)."""
    row = Autopilot(stack.control).store.get(campaign_id)
    iv = t.interviews
    return stack.store.rows(
        sa.select(iv)
        .where(iv.c.interest_id.in_(row.state.get("candidates", [])))
        .order_by(iv.c.scheduled_for)
    )


def _stages(stack: ChatStack, interest_ids: list[str]) -> dict[str, str]:
    rows = stack.store.rows(sa.select(t.pipeline).where(t.pipeline.c.interest_id.in_(interest_ids)))
    return {r["interest_id"]: r["status"] for r in rows}


def _crash_and_resume(pilot: Autopilot, campaign_id: str) -> int:
    """A waiting interview loses its recorded gate, as a crash between the governed call and
    the row's update leaves it; the next pass must adopt the gate, not open a second one."""
    waiting = [
        s for s in pilot.store.sends(campaign_id) if s.status == "pending" and is_interview(s)
    ]
    if not waiting:
        return 0
    s = waiting[0]
    pilot.store.set_send(campaign_id, s.interest_id, s.touch, status="queued", gate_id=None)
    pilot.advance(campaign_id)
    again = next(
        x
        for x in pilot.store.sends(campaign_id)
        if (x.interest_id, x.touch) == (s.interest_id, s.touch)
    )
    assert again.gate_id == s.gate_id  # adopted, not a second gate
    return 1


def _run(
    db: str, start: datetime, tmp_path: Path, *, crash: bool = True, **spec: Any
) -> tuple[str, FakeClock, int, int]:
    """Run a campaign a day at a time (each day a new process) until it stops; with ``crash``,
    after each pass a waiting interview first loses its recorded gate. Returns the campaign,
    the clock, the days it took and the crashes survived."""
    clock = FakeClock(start)
    with _pilot(db, clock, tmp_path) as (pilot, _):
        campaign_id = pilot.create(_spec(**spec)).campaign_id
        pilot.approve_profile(campaign_id, RECRUITER)
    days = crashes = 0
    while True:
        with _pilot(db, clock, tmp_path) as (pilot, stack):
            # The inbox answers twice within the gates' hour: what the pass queued, then the
            # interviews the replies it recorded called for.
            for decide in (False, True, True):
                if decide:
                    _decide(pilot, campaign_id)
                pilot.advance(campaign_id)
                if crash:
                    crashes += _crash_and_resume(pilot, campaign_id)
            booked = Counter(
                (r["interest_id"], r["scheduled_for"]) for r in _booked(stack, campaign_id)
            )
            assert set(booked.values()) <= {1}  # never booked twice
            if pilot.store.get(campaign_id).status != "active":
                return campaign_id, clock, days, crashes
        clock.advance(timedelta(hours=25))
        days += 1
        assert days < 30, "the campaign never stopped"


def _trace(db: str, campaign_id: str, start: datetime, clock: FakeClock, tmp: Path) -> list[Any]:
    """What the campaign did, with times relative to its start (comparable across eras)."""
    with _pilot(db, clock, tmp) as (pilot, _):
        return [
            (s.interest_id, s.touch, s.status, s.outcome, s.queued_at - start)
            for s in pilot.store.sends(campaign_id)
        ]


@pytest.mark.parametrize("start", [PAST, FUTURE], ids=["1990", "2091"])
def test_interviews_no_shows_and_hires_reach_the_objective_across_restarts(
    db_url: str, tmp_path: Path, start: datetime
) -> None:
    """Replied candidates get interviews behind their gates, at slots after the campaign's
    clock; a no-show is rebooked once at most; the campaign stops at its two hires, with the
    funnel in its summary, its pipeline stages and its postmortem."""
    campaign_id, clock, _, crashes = _run(db_url, start, tmp_path)
    assert crashes > 0
    with _pilot(db_url, clock, tmp_path) as (pilot, stack):
        summary = pilot.summary(campaign_id)
        assert summary["status"] == "objective_met"
        assert summary["hires"] >= 2
        every = pilot.store.sends(campaign_id)
        interviews = [s for s in every if is_interview(s)]
        repliers = {s.interest_id for s in every if s.outcome == "replied"}
        assert {s.interest_id for s in interviews} <= repliers
        assert summary["no_shows"] >= 1, "the seed should give a no-show to follow"
        # Slots come from the campaign's clock: after the queue time by the lead, on a weekday
        # business hour, within days of the campaign's start, whatever today is.
        rows = _booked(stack, campaign_id)
        assert len(rows) == summary["interviews"]["booked"] > 0
        for r in rows:
            when = parse_ts(r["scheduled_for"])
            assert start < when < start + timedelta(days=40)
            assert when.weekday() < 5
            assert 9 <= when.hour <= 16
        for s in interviews:
            if s.status == "sent":
                slot = interview_slot(s.queued_at, 24)
                assert slot - s.queued_at >= timedelta(hours=24)
        # No-shows: rebooked at most once; after the last one the candidacy is withdrawn.
        per: dict[str, list[Any]] = {}
        for s in interviews:
            per.setdefault(s.interest_id, []).append(s)
        stages = _stages(stack, sorted(per))
        for iid, mine in per.items():
            assert [attempt_of(s) for s in mine] == list(range(len(mine)))
            assert len(mine) <= 2
            last = mine[-1]
            if last.outcome == "hired":
                assert stages[iid] == "hired"
            elif last.outcome == "not_hired":
                assert stages[iid] == "rejected"
            elif last.outcome == "no_show" and attempt_of(last) == 1:
                assert stages[iid] == "withdrawn"
            if len(mine) == 2:
                assert mine[0].outcome == "no_show"
                assert summary["interviews"]["rescheduled"] >= 1
        assert summary["hires"] == sum(1 for v in stages.values() if v == "hired")
        # Nothing of it waits any more: the objective withdrew what was queued or at a gate.
        assert not [s for s in every if s.status in ("queued", "pending")]
        pending = control_queries.gates_of_runs(
            stack.ledger.engine, [str(pilot.store.get(campaign_id).state["run_id"])]
        )
        assert all(g.decision != "pending" for g in pending)
        text = Compendium(tmp_path / "compendium").read(CARDS_FILE)
        assert text is not None
        (card,) = parse_cards(text, CARDS_FILE)
        assert f"hires {summary['hires']} of 2 wanted" in card.context
        statuses = [r.fields["status"] for r in stack.ledger.records(kind="campaign")]
        assert statuses == ["draft", "active", "objective_met"]
        assert stack.ledger.verify().ok


def test_the_same_seed_gives_the_same_campaign_a_century_apart(tmp_path: Path) -> None:
    """Outcomes are drawn from the seed, slots from the injected clock: two eras, one story."""
    past_db = f"sqlite:///{tmp_path / 'past.db'}"
    future_db = f"sqlite:///{tmp_path / 'future.db'}"
    past_id, past_clock, past_days, _ = _run(past_db, PAST, tmp_path / "p", crash=False)
    future_id, future_clock, future_days, _ = _run(future_db, FUTURE, tmp_path / "f", crash=False)
    assert past_days == future_days
    assert _trace(past_db, past_id, PAST, past_clock, tmp_path) == _trace(
        future_db, future_id, FUTURE, future_clock, tmp_path
    )


def test_a_rejected_interview_is_never_booked_and_ends_that_candidacy(
    db_url: str, tmp_path: Path
) -> None:
    """The approver rejects every interview: nothing is booked, the repliers stay at
    screening, each rejection is an exception, and the campaign completes without hires."""
    clock = FakeClock(FUTURE)
    with _pilot(db_url, clock, tmp_path) as (pilot, stack):
        campaign_id = pilot.create(_spec()).campaign_id
        pilot.approve_profile(campaign_id, RECRUITER)
        for _ in range(12):
            pilot.advance(campaign_id)
            for _ in range(2):
                _decide(pilot, campaign_id, interviews="reject")
                pilot.advance(campaign_id)
            if pilot.store.get(campaign_id).status != "active":
                break
            clock.advance(timedelta(hours=25))
        summary = pilot.summary(campaign_id)
        assert summary["status"] == "completed"
        assert summary["interviews"]["refused"] == summary["replied"] > 0
        assert summary["hires"] == 0
        assert _booked(stack, campaign_id) == []
        rejected = [e for e in summary["exceptions"] if e.endswith("interview 1: rejected")]
        assert len(rejected) == summary["replied"]
        every = pilot.store.sends(campaign_id)
        repliers = sorted({s.interest_id for s in every if s.outcome == "replied"})
        assert set(_stages(stack, repliers).values()) == {"screening"}
        # One interview each, never a second attempt after a rejection.
        assert all(s.touch == INTERVIEW_TOUCH for s in every if is_interview(s))


def test_interviews_spend_the_budget_and_the_campaign_stops_there(
    db_url: str, tmp_path: Path
) -> None:
    """At $40 an interview, a $100 budget pays the sends and two interviews: no third is
    booked, spend never passes the budget, the campaign ends budget_exhausted."""
    _run(
        db_url,
        PAST,
        tmp_path,
        crash=False,
        target_hires=50,
        profile={"budget_usd": 100.0, "cost_per_interview_usd": 40.0},
    )
    with _pilot(db_url, FakeClock(PAST), tmp_path) as (pilot, _):
        (row,) = pilot.store.campaigns()
        summary = pilot.summary(row.campaign_id)
        interviews = [s for s in pilot.store.sends(row.campaign_id) if is_interview(s)]
    assert summary["status"] == "budget_exhausted"
    assert 1 <= len(interviews) <= 2
    assert summary["spend_usd"] <= 100.0
    assert summary["replied"] > len(interviews)  # more repliers than the budget could pay


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC),
    ),
    st.integers(min_value=1, max_value=336),
)
def test_a_slot_is_a_weekday_business_hour_after_the_lead(queued: datetime, lead: int) -> None:
    """Whatever the queue time and lead: at least the lead later, a weekday hour 09-16 UTC on
    the hour, and at most about three days past the lead (a weekend and a night)."""
    slot = interview_slot(queued, lead)
    assert slot >= queued + timedelta(hours=lead)
    assert slot.weekday() < 5
    assert 9 <= slot.hour <= 16
    assert (slot.minute, slot.second, slot.microsecond) == (0, 0, 0)
    assert slot - (queued + timedelta(hours=lead)) < timedelta(days=3, hours=16)
