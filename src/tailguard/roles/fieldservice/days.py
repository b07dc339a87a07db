"""Which day a question means: ``today``, ``yesterday``, ``N days ago`` or ``YYYY-MM-DD``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from tailguard.errors import InvalidInputError

_AGO = re.compile(r"^(\d{1,3}) days? ago$")


def parse_day(text: str, now: datetime) -> tuple[datetime, datetime]:
    """The UTC day ``text`` names, relative to ``now``, as ``[start, end)``.

    Raises:
        InvalidInputError: anything else (the message says what is accepted).
    """
    if now.tzinfo is None:
        raise InvalidInputError("now must be timezone-aware")
    word = " ".join(str(text).lower().split())
    today = now.astimezone(UTC).date()
    ago = _AGO.match(word)
    if word == "today":
        day = today
    elif word == "yesterday":
        day = today - timedelta(days=1)
    elif ago is not None:
        day = today - timedelta(days=int(ago.group(1)))
    else:
        try:
            day = date.fromisoformat(word)
        except ValueError:
            raise InvalidInputError(
                f"day {text!r}: use today, yesterday, 'N days ago' or YYYY-MM-DD"
            ) from None
        if len(word) != 10:
            raise InvalidInputError(f"day {text!r}: use the YYYY-MM-DD form")
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)
