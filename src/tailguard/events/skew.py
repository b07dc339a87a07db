"""Events from the future: anything dated past the clock plus a tolerated skew is rejected.

A stray timestamp (year 2999) is not a late event but a broken one; kept, it would make a
replay tick through centuries (``skipped_hours: 8528983``) or hide in a window forever. Such
events go to the dead letter with the reason, like any other invalid event (INTERFACES.md
section 1). The reference time is the reader's clock (``tailguard agents run``: the wall
clock) or the command's ``--as-of`` (``scorecard``, ``tails``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from tailguard.clock import format_ts
from tailguard.errors import InvalidInputError
from tailguard.events.deadletter import DeadLetterSink

DEFAULT_MAX_SKEW = timedelta(days=1)
"""How far past the reference time an event may be dated before it is rejected."""


def parse_skew(text: str) -> timedelta:
    """A skew such as ``1d``, ``6h``, ``90m``, ``30s`` or ``0`` (a plain number: seconds).

    Raises:
        InvalidInputError: anything else, or a negative value.
    """
    raw = text.strip().lower()
    units = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}
    scale = units.get(raw[-1:])
    number = raw[:-1] if scale is not None else raw
    try:
        value = float(number)
    except ValueError:
        raise InvalidInputError(
            f"bad skew {text!r}: a number with d, h, m or s (1d, 6h, 90m, 30s)"
        ) from None
    if not value >= 0 or value == float("inf"):
        raise InvalidInputError(f"bad skew {text!r}: must be a finite value >= 0")
    return timedelta(seconds=value * (scale or 1.0))


def reject_future(
    table: pa.Table,
    *,
    limit: datetime,
    reference: str,
    dead_letter: DeadLetterSink | None,
    source: str,
) -> pa.Table:
    """``table`` without its events dated after ``limit``; those go to ``dead_letter``.

    Args:
        table: validated events (wide schema, ``ts`` a UTC timestamp).
        limit: the latest accepted ``ts`` (the reference time plus the skew).
        reference: how the reason names the reference, e.g. ``the clock (2026-03-02T09:00:00Z)
            + 1 day``.
        dead_letter: where rejects go; None raises instead (nothing is dropped silently).
        source: the file or bus the events came from.

    Raises:
        InvalidInputError: a future event and no dead letter.
    """
    if table.num_rows == 0:
        return table
    ts = table.column("ts")
    late = pc.fill_null(pc.greater(ts, pa.scalar(limit, type=ts.type)), False)
    if not pc.any(late).as_py():
        return table
    bad = table.filter(late)
    for row in bad.to_pylist():
        when = row.get("ts")
        stamp = format_ts(when) if isinstance(when, datetime) else str(when)
        reason = f"ts {stamp} is in the future: later than {reference}"
        if dead_letter is None:
            raise InvalidInputError(f"{source}: event {row.get('event_id')!r}: {reason}")
        raw = json.dumps(
            {k: v for k, v in row.items() if v is not None}, default=_jsonable, sort_keys=True
        )
        dead_letter.add(reason=reason, raw=raw, source=source, line=None)
    return table.filter(pc.invert(late))


def _jsonable(value: object) -> str:
    return format_ts(value) if isinstance(value, datetime) else str(value)
