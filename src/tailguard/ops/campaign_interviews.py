"""The recruiter autopilot's interviews: a replied candidate's interview, its gate, its outcome.

A candidate who replied gets an interview booked through ``schedule_interview`` (execute_high:
it waits at an approval gate like every send, and is approved in the same inbox batch). Its
slot is computed from the time the interview was queued, which is the campaign's injected
clock, never today's date: the first weekday business hour (09:00-16:00 UTC) at least the
profile's ``interview_lead_hours`` later. An hour after the slot the outcome is drawn,
deterministically from the campaign's seed, the candidacy and the attempt:

* attended (70 %): hired (50 % of those: ``interview -> offer -> hired``) or not
  (``interview -> rejected``);
* no-show (30 %): another interview is booked, at most ``max_reschedules`` times; after the
  last no-show the candidacy is ``withdrawn``.

Interviews live in the sends table (:mod:`.campaign_store`) as rows whose touch is
:data:`INTERVIEW_TOUCH` plus the attempt and whose channel is ``interview``: the primary key
(campaign, candidacy, touch) books each attempt once whatever restarts, and the gate of a
row queued before a crash is found again by its slot (``scheduledFor``), never opened twice.
Their outcome column goes ``None -> booked`` (the pipeline moved to ``interview``) and then
to ``hired``, ``not_hired`` or ``no_show``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from tailguard.clock import format_ts
from tailguard.ops.campaign_store import SendRow

INTERVIEW_TOUCH: Final = 100
INTERVIEW_CHANNEL: Final = "interview"
ATTEND_RATE: Final = 0.70
HIRE_RATE: Final = 0.50
#: How long an interview takes: its outcome is known this long after its slot.
INTERVIEW_LENGTH: Final = timedelta(hours=1)
#: Slot start hours (UTC) on weekdays.
FIRST_HOUR: Final = 9
LAST_HOUR: Final = 16
FINAL_OUTCOMES: Final = ("hired", "not_hired", "no_show")


def is_interview(send: SendRow) -> bool:
    """True for an interview row of the sends table."""
    return send.touch >= INTERVIEW_TOUCH


def attempt_of(send: SendRow) -> int:
    """0 for the first interview of a candidacy, 1 for its first reschedule, ..."""
    return send.touch - INTERVIEW_TOUCH


def interview_slot(queued_at: datetime, lead_hours: int) -> datetime:
    """The interview's start: the first whole weekday hour between 09:00 and 16:00 UTC that is
    at least ``lead_hours`` after ``queued_at`` (a pure function of the queue time)."""
    earliest = queued_at + timedelta(hours=lead_hours)
    slot = earliest.replace(minute=0, second=0, microsecond=0)
    if slot < earliest:
        slot += timedelta(hours=1)
    for _ in range(24 * 8):
        if slot.weekday() < 5 and FIRST_HOUR <= slot.hour <= LAST_HOUR:
            return slot
        slot += timedelta(hours=1)
    raise AssertionError("unreachable: every week has a weekday business hour")


def slot_text(send: SendRow, lead_hours: int) -> str:
    """The ``scheduledFor`` argument of an interview row (RFC 3339)."""
    return format_ts(interview_slot(send.queued_at, lead_hours))


def draw(seed: str, interest_id: str, n: int, what: str) -> float:
    """A deterministic number in [0, 1) for one simulated outcome."""
    digest = hashlib.sha256(f"{seed}|{interest_id}|{n}|{what}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """What happened at an interview whose slot has passed."""

    result: str  # hired | not_hired | no_show
    moves: tuple[str, ...]  # the candidacy's pipeline moves, in order


def outcome(seed: str, send: SendRow, max_reschedules: int) -> Outcome:
    """The simulated outcome of a booked interview (deterministic)."""
    attempt = attempt_of(send)
    if draw(seed, send.interest_id, attempt, "attend") >= ATTEND_RATE:
        last = attempt >= max_reschedules
        return Outcome(result="no_show", moves=("withdrawn",) if last else ())
    if draw(seed, send.interest_id, attempt, "hire") < HIRE_RATE:
        return Outcome(result="hired", moves=("offer", "hired"))
    return Outcome(result="not_hired", moves=("rejected",))


@dataclass(frozen=True, kw_only=True, slots=True)
class Tally:
    """The interviews of a campaign, counted (the progress page and the postmortem)."""

    queued: int
    pending: int
    booked: int
    attended: int
    no_shows: int
    rescheduled: int
    hires: int
    not_hired: int
    refused: int  # rejected at the gate, expired, failed or cancelled

    def as_dict(self) -> dict[str, int]:
        """JSON-ready."""
        return {
            "queued": self.queued,
            "pending": self.pending,
            "booked": self.booked,
            "attended": self.attended,
            "no_shows": self.no_shows,
            "rescheduled": self.rescheduled,
            "hires": self.hires,
            "not_hired": self.not_hired,
            "refused": self.refused,
        }


def tally(rows: Iterable[SendRow]) -> Tally:
    """Count the interview rows among ``rows``."""
    mine = [r for r in rows if is_interview(r)]
    outcomes = [r.outcome for r in mine if r.status == "sent"]
    return Tally(
        queued=sum(1 for r in mine if r.status == "queued"),
        pending=sum(1 for r in mine if r.status == "pending"),
        booked=sum(1 for r in mine if r.status == "sent"),
        attended=sum(1 for o in outcomes if o in ("hired", "not_hired")),
        no_shows=outcomes.count("no_show"),
        rescheduled=sum(1 for r in mine if attempt_of(r) > 0),
        hires=outcomes.count("hired"),
        not_hired=outcomes.count("not_hired"),
        refused=sum(1 for r in mine if r.status in ("rejected", "expired", "failed", "cancelled")),
    )


def next_attempt(rows: list[SendRow], max_reschedules: int) -> int | None:
    """The attempt to book next for one replied candidacy (its interview rows, by attempt), or
    None: one is under way, it ended (hired, not hired, refused at the gate) or the
    reschedules are used up."""
    if not rows:
        return 0
    last = rows[-1]
    if last.status == "sent" and last.outcome == "no_show":
        attempt = attempt_of(last) + 1
        return attempt if attempt <= max_reschedules else None
    return None


def under_way(rows: list[SendRow]) -> bool:
    """True while a candidacy's last interview still waits: queued, at its gate, booked and
    not yet held, or held and its outcome not applied."""
    if not rows:
        return False
    last = rows[-1]
    if last.status in ("queued", "pending"):
        return True
    return last.status == "sent" and last.outcome not in FINAL_OUTCOMES


def is_due(send: SendRow, now: datetime, lead_hours: int) -> bool:
    """True when a booked interview's slot and length have passed at ``now``."""
    return now >= interview_slot(send.queued_at, lead_hours) + INTERVIEW_LENGTH
