"""The time window of a dashboard: an absolute date range, or the last N days of the data.

``?from=YYYY-MM-DD&to=YYYY-MM-DD`` shows those whole UTC days. Otherwise ``?days=N`` shows the
last N days up to now, unless the ledger holds nothing in them while it holds data (a demo's
ledger is in simulated time, January 2026, say): then the window is the last N days of the
ledger's own span, and the page says so. An empty chart over "the last 7 days" beside a
ledger full of data told a new user the product did nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tailguard.errors import InvalidInputError

#: The windows a page offers, in days.
WINDOWS = (1, 7, 14, 30, 90)
_MAX_DAYS = 366


@dataclass(frozen=True, kw_only=True, slots=True)
class Window:
    """What a page shows: ``[since, until)``, how it was chosen, and the ledger's span."""

    since: datetime
    until: datetime
    days: int
    absolute: bool
    note: str | None = None
    span: tuple[datetime, datetime] | None = None

    @property
    def first_day(self) -> date:
        """The first day shown."""
        return self.since.date()

    @property
    def last_day(self) -> date:
        """The last day shown (``until`` is exclusive at midnight for an absolute range)."""
        return (self.until - timedelta(microseconds=1)).date()

    def query(self) -> dict[str, str]:
        """The window as query parameters (for links that keep it)."""
        if self.absolute:
            return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}
        return {"days": str(self.days)}


def _day(query: Mapping[str, str], key: str) -> date | None:
    raw = (query.get(key) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInputError(
            f"{key} must be a date (YYYY-MM-DD), not {raw!r}", details={"field": key}
        ) from None


def resolve_window(
    query: Mapping[str, str], ledger: Any, now: datetime, *, default_days: int
) -> Window:
    """The page's window from its query string (see the module docstring).

    Raises:
        InvalidInputError: a bad date, ``from`` after ``to``, or a range over a year (422).
    """
    span = ledger.span()
    start, end = _day(query, "from"), _day(query, "to")
    if start is not None or end is not None:
        if start is None or end is None:
            missing = "from" if start is None else "to"
            raise InvalidInputError(
                "a date range needs both from and to", details={"field": missing}
            )
        if start > end:
            raise InvalidInputError("from must not be after to", details={"field": "from"})
        if (end - start).days + 1 > _MAX_DAYS:
            raise InvalidInputError(
                f"a date range spans at most {_MAX_DAYS} days", details={"field": "to"}
            )
        since = datetime.combine(start, time(), UTC)
        until = datetime.combine(end + timedelta(days=1), time(), UTC)
        return Window(
            since=since, until=until, days=(end - start).days + 1, absolute=True, span=span
        )
    raw = query.get("days")
    try:
        days = int(raw) if raw else default_days
    except ValueError:
        days = default_days
    days = days if days in WINDOWS else default_days
    since, until = now - timedelta(days=days), now
    if span is not None and (span[1] < since or span[0] > until):
        # Nothing recorded in the last N days, but data elsewhere: its own last N days.
        until = span[1] + timedelta(seconds=1)
        since = max(span[0], until - timedelta(days=days))
        note = (
            f"Nothing was recorded in the last {days} day{'s' if days > 1 else ''}; showing the "
            f"ledger's own data, {since.date().isoformat()} to {span[1].date().isoformat()}."
        )
        return Window(since=since, until=until, days=days, absolute=False, note=note, span=span)
    return Window(since=since, until=until, days=days, absolute=False, span=span)
