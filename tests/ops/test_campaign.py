"""The recruiter autopilot end to end on SQLite and PostgreSQL: gated sends approved in a
batch, pipeline updates, cadence, daily cap, budget stop, pause, cancel, rejection, restarts
that never send twice, and the postmortem."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from tailguard.clock import FakeClock
from tailguard.compendium import Compendium, parse_cards
from tailguard.errors import ConflictError, InvalidInputError, PermissionDeniedError
from tailguard.ops.campaign import CARDS_FILE, Autopilot, CampaignSpec, parse_spec
from tailguard.ops.campaign_interviews import is_interview
from tailguard.roles.recruiting import schema as t
from tailguard.roles.session import ChatStack, open_chat

RECRUITER = "rec-001"


def _spec(**profile: Any) -> CampaignSpec:
    return parse_spec(
        {
            "objective": "20 CDL-A flatbed drivers for the Dallas lane in 3 weeks",
            "recruiter_id": RECRUITER,
            "target_hires": 20,
            "profile": {
                "channels": ["sms", "email"],
                "cadence_hours": 24,
                "touches": 3,
                "daily_send_cap": 20,
                "budget_usd": 100.0,
                "cost_per_send_usd": 2.0,
                **profile,
            },
        }
    )


@contextmanager
def _pilot(db: str, clock: FakeClock, tmp_path: Path) -> Iterator[tuple[Autopilot, ChatStack]]:
    """An autopilot on a fresh stack (a new process, as far as the database is concerned)."""
    stack = open_chat(db, clock=clock)
    try:
        yield Autopilot(stack.control, compendium=Compendium(tmp_path / "compendium")), stack
    finally:
        stack.close()


def _messages(stack: ChatStack, campaign_id: str) -> Counter[tuple[str, str]]:
    """(candidacy, touch marker) -> messages really sent for the campaign."""
    rows = stack.store.rows(
        sa.select(t.messages).where(t.messages.c.content.like(f"[{campaign_id} t%"))
    )
    return Counter((r["interest_id"], r["content"].split("]")[0]) for r in rows)


def _stages(stack: ChatStack, interest_ids: list[str]) -> dict[str, str]:
    rows = stack.store.rows(sa.select(t.pipeline).where(t.pipeline.c.interest_id.in_(interest_ids)))
    return {r["interest_id"]: r["status"] for r in rows}


def test_campaign_runs_its_cadence_through_batch_approvals_across_restarts(
    db_url: str, tmp_path: Path
) -> None:
    """Every send waits at a gate, runs once after the batch approval, moves the pipeline;
    restarts mid-cadence send nothing twice; the campaign completes with its postmortem."""
    clock = FakeClock()
    with _pilot(db_url, clock, tmp_path) as (pilot, stack):
        campaign_id = pilot.create(_spec()).campaign_id
        with pytest.raises(PermissionDeniedError):
            pilot.approve_profile(campaign_id, "rec-002")
        pilot.approve_profile(campaign_id, RECRUITER)
        pilot.advance(campaign_id)
        first = pilot.summary(campaign_id)
        candidates = list(pilot.store.get(campaign_id).state["candidates"])
        assert first["sends"]["pending"] == len(candidates) > 0
        assert _messages(stack, campaign_id) == Counter()  # nothing sent before approval
        assert pilot.approve_batch(campaign_id, "admin") == len(candidates)
    days = 0
    while True:
        # Each day is a new process: it resumes what was approved, then queues the due touches.
        with _pilot(db_url, clock, tmp_path) as (pilot, stack):
            row = pilot.advance(campaign_id)
            # A crash between "queued" and "gate recorded": the gate is adopted, not re-opened.
            waiting = [s for s in pilot.store.sends(campaign_id) if s.status == "pending"]
            if waiting:
                s = waiting[0]
                pilot.store.set_send(
                    campaign_id, s.interest_id, s.touch, status="queued", gate_id=None
                )
                pilot.advance(campaign_id)
                again = next(
                    x
                    for x in pilot.store.sends(campaign_id)
                    if (x.interest_id, x.touch) == (s.interest_id, s.touch)
                )
                assert again.gate_id == s.gate_id
            pilot.approve_batch(campaign_id, "admin")
            pilot.advance(campaign_id)
            sent = _messages(stack, campaign_id)
            assert set(sent.values()) <= {1}  # never twice
            row = pilot.store.get(campaign_id)
            if row.status != "active":
                break
        clock.advance(timedelta(hours=25))
        days += 1
        assert days < 16, "the campaign never finished"
    with _pilot(db_url, clock, tmp_path) as (pilot, stack):
        summary = pilot.summary(campaign_id)
        assert summary["status"] in ("completed", "objective_met")
        every = pilot.store.sends(campaign_id)
        sends = [s for s in every if not is_interview(s)]
        assert summary["sends"]["sent"] == len(_messages(stack, campaign_id)) == len(sends)
        # Channels rotate by touch; later touches waited for the cadence.
        assert {s.channel for s in sends if s.touch == 1} <= {"email"}
        by_cand: dict[str, list[Any]] = {}
        for s in sends:
            by_cand.setdefault(s.interest_id, []).append(s)
        for mine in by_cand.values():
            times = [s.sent_at for s in mine]
            assert all(b - a >= timedelta(hours=24) for a, b in itertools.pairwise(times))
        # The pipeline moved: every contacted lead is at least contacted; repliers went on to
        # their interviews (docs: test_campaign_interviews.py follows them to the hires).
        stages = _stages(stack, candidates)
        repliers = {s.interest_id for s in sends if s.outcome == "replied"}
        assert summary["replied"] == len(repliers)
        after_reply = {"screening", "interview", "offer", "hired", "rejected", "withdrawn"}
        assert all(stages[i] in after_reply for i in repliers)
        assert all(stages[i] == "contacted" for i in set(candidates) - repliers)
        assert {s.interest_id for s in every if is_interview(s)} <= repliers
        # Whoever did not reply got every touch; nobody got one after replying.
        for iid, mine in by_cand.items():
            assert len(mine) == (
                3 if iid not in repliers else 1 + [s.outcome for s in mine].index("replied")
            )
        text = Compendium(tmp_path / "compendium").read(CARDS_FILE)
        assert text is not None
        (card,) = parse_cards(text, CARDS_FILE)
        assert card.card_id == f"campaign/{campaign_id}"
        assert card.effect.n == len(candidates)
        assert summary["postmortem"] == f"{CARDS_FILE}#campaign/{campaign_id}"
        assert stack.ledger.verify().ok
        statuses = [r.fields["status"] for r in stack.ledger.records(kind="campaign")]
        assert statuses == ["draft", "active", summary["status"]]


def test_budget_and_daily_cap_bound_the_sends_and_the_budget_stops_the_campaign(
    db_url: str, tmp_path: Path
) -> None:
    """A $5 budget at $2 a send pays two sends a campaign; the daily cap spreads them."""
    clock = FakeClock()
    with _pilot(db_url, clock, tmp_path) as (pilot, stack):
        campaign_id = pilot.create(_spec(budget_usd=5.0, daily_send_cap=1)).campaign_id
        pilot.approve_profile(campaign_id, RECRUITER)
        for _ in range(4):
            pilot.advance(campaign_id)
            assert sum(1 for s in pilot.store.sends(campaign_id) if s.status == "pending") <= 1
            pilot.approve_batch(campaign_id, "admin")
            pilot.advance(campaign_id)
            clock.advance(timedelta(hours=25))
        summary = pilot.summary(campaign_id)
        assert summary["status"] == "budget_exhausted"
        assert summary["sends"]["sent"] == 2
        assert summary["spend_usd"] == 4.0
        assert sum(_messages(stack, campaign_id).values()) == 2
        days = {s.queued_at.date() for s in pilot.store.sends(campaign_id)}
        assert len(days) == 2  # one a day


def test_rejected_sends_never_go_out_and_are_reported(db_url: str, tmp_path: Path) -> None:
    """A batch rejection: nothing sent, the exceptions list each one, the campaign ends."""
    clock = FakeClock()
    with _pilot(db_url, clock, tmp_path) as (pilot, stack):
        campaign_id = pilot.create(_spec()).campaign_id
        pilot.approve_profile(campaign_id, RECRUITER)
        pilot.advance(campaign_id)
        n = pilot.approve_batch(campaign_id, "admin", decision="reject")
        assert n > 0
        pilot.advance(campaign_id)
        summary = pilot.summary(campaign_id)
        assert summary["sends"]["rejected"] == n
        assert summary["sends"]["sent"] == 0
        assert len(summary["exceptions"]) == n
        assert _messages(stack, campaign_id) == Counter()
        assert summary["status"] == "completed"


def test_pause_holds_approved_sends_and_cancel_stops_them_for_good(
    db_url: str, tmp_path: Path
) -> None:
    """Paused: approved sends wait; resumed: they go out once; cancelled: waiting ones never do."""
    clock = FakeClock()
    with _pilot(db_url, clock, tmp_path) as (pilot, stack):
        campaign_id = pilot.create(_spec()).campaign_id
        pilot.approve_profile(campaign_id, RECRUITER)
        pilot.advance(campaign_id)
        pilot.approve_batch(campaign_id, "admin")
        pilot.pause(campaign_id)
        pilot.advance(campaign_id)
        assert _messages(stack, campaign_id) == Counter()
        with pytest.raises(ConflictError):
            pilot.pause(campaign_id)
        pilot.resume(campaign_id)
        pilot.advance(campaign_id)
        sent_first = sum(_messages(stack, campaign_id).values())
        assert sent_first == pilot.summary(campaign_id)["candidates"]
        clock.advance(timedelta(hours=25))
        pilot.advance(campaign_id)  # second touches wait at their gates
        waiting = pilot.summary(campaign_id)["sends"]["pending"]
        assert waiting > 0
        pilot.cancel(campaign_id, "admin")
        pilot.approve_batch(campaign_id, "admin")  # too late: nothing is waiting any more
        pilot.advance(campaign_id)
        summary = pilot.summary(campaign_id)
        assert summary["status"] == "cancelled"
        assert summary["sends"]["cancelled"] == waiting
        assert sum(_messages(stack, campaign_id).values()) == sent_first
        assert summary["postmortem"] is not None


_JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10_000)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "objective": _JSONISH,
            "recruiter_id": _JSONISH,
            "target_hires": _JSONISH,
            "max_candidates": _JSONISH,
            "seed": _JSONISH,
            "profile": st.fixed_dictionaries(
                {},
                optional={
                    "channels": _JSONISH | st.lists(st.sampled_from(["sms", "email", "fax"])),
                    "cadence_hours": _JSONISH,
                    "touches": _JSONISH,
                    "daily_send_cap": _JSONISH,
                    "budget_usd": _JSONISH,
                    "interview_kind": _JSONISH | st.sampled_from(["phone", "video", "fax"]),
                    "interview_lead_hours": _JSONISH,
                    "max_reschedules": _JSONISH,
                    "cost_per_interview_usd": _JSONISH,
                },
            )
            | _JSONISH,
        },
    )
)
def test_campaign_requests_are_accepted_or_refused_with_a_reason(data: dict[str, Any]) -> None:
    """Any request body either parses to a valid spec or raises InvalidInputError."""
    try:
        spec = parse_spec(data)
    except InvalidInputError as exc:
        message = str(exc)
    else:
        assert spec.profile.touches >= 1
        assert spec.profile.budget_usd > 0
        assert 0 <= spec.profile.max_reschedules <= 3
        assert spec.seed is None or spec.seed >= 0
        return
    assert message.startswith("campaign: ")
