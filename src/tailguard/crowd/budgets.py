"""Budgets of the crowd tools: how many local tests, adoptions and nudges an area may take.

The control plane's run budgets cap tokens, money and time per run and its rate limits cap
calls per minute; neither knows that an area running ten local tests at once splits its units
too thin to read any of them, that rolling out many tactics in one week makes their effects
impossible to tell apart, or that a laggard nudged daily stops listening. These caps are the
crowd's own, counted from the exchange's store and the ledger, and enforced inside the
governed tools: a call past a cap raises :class:`~tailguard.errors.BudgetExceededError`, which
the control plane records as a ``budget_exceeded`` step (skipped, nothing done), like a run
budget refusal. ``None`` means no cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any

from tailguard.crowd.store import CrowdStore
from tailguard.errors import BudgetExceededError, InvalidInputError
from tailguard.ledger import Ledger


@dataclass(frozen=True, kw_only=True, slots=True)
class CrowdBudgets:
    """The caps (None: unlimited).

    Attributes:
        open_tests_per_area: local tests an area runs at once (status ``testing``).
        tests_per_area_week: local tests an area starts in one week (period).
        adoptions_per_area_week: tactics an area rolls out in one week.
        nudges_per_area_week: coach nudges one area receives in 7 days.
        nudges_per_coach_day: nudges one coach sends in 24 hours.
    """

    open_tests_per_area: int | None = 8
    tests_per_area_week: int | None = 8
    adoptions_per_area_week: int | None = 4
    nudges_per_area_week: int | None = 3
    nudges_per_coach_day: int | None = 50

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise InvalidInputError(f"crowd budget {f.name} must be an integer >= 0 or null")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> CrowdBudgets:
        """Budgets from a settings mapping (a YAML or JSON section); unknown keys are refused.

        Raises:
            InvalidInputError: an unknown key, or a value that is not an integer >= 0 or null.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInputError(f"unknown crowd budget(s) {unknown}; known: {sorted(known)}")
        for key, value in data.items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise InvalidInputError(f"crowd budget {key} must be an integer >= 0 or null")
        return cls(**dict(data))

    def check_start(self, store: CrowdStore, *, area_id: str, period: int) -> None:
        """Refuse a new local test past the area's open or weekly test caps."""
        tests = store.local_tests(area_id=area_id)
        running = sum(1 for t in tests if t.status == "testing")
        _cap(running, self.open_tests_per_area, f"{area_id} runs {running} local tests")
        this_week = sum(1 for t in tests if t.started_period == period)
        _cap(
            this_week, self.tests_per_area_week, f"{area_id} started {this_week} tests in {period}"
        )

    def check_adopt(self, ledger: Ledger, *, area_id: str, period: int) -> None:
        """Refuse a roll-out past the area's weekly adoption cap."""
        if self.adoptions_per_area_week is None:
            return
        done = sum(
            1
            for r in ledger.records(kind="crowd_adoption")
            if r.fields.get("area_id") == area_id and r.fields.get("period") == period
        )
        _cap(done, self.adoptions_per_area_week, f"{area_id} adopted {done} tactics in {period}")

    def check_nudge(self, ledger: Ledger, *, area_id: str, coach_id: str) -> None:
        """Refuse a nudge past the area's weekly or the coach's daily nudge cap."""
        if self.nudges_per_area_week is None and self.nudges_per_coach_day is None:
            return
        now = ledger.clock.now()
        week = list(ledger.records(kind="crowd_nudge", since=now - timedelta(days=7)))
        to_area = sum(1 for r in week if r.fields.get("area_id") == area_id)
        _cap(to_area, self.nudges_per_area_week, f"{area_id} was nudged {to_area} times in 7 days")
        day = now - timedelta(days=1)
        by_coach = sum(
            1 for r in week if r.fields.get("coach_id") == coach_id and r.recorded_at >= day
        )
        _cap(by_coach, self.nudges_per_coach_day, f"{coach_id} sent {by_coach} nudges in 24 h")


def _cap(used: int, cap: int | None, what: str) -> None:
    if cap is not None and used >= cap:
        raise BudgetExceededError(f"crowd budget: {what} (cap {cap})")
