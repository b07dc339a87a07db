"""What every API router shares: the app's state, the role dependencies, record conversion."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BeforeValidator

from tailguard.clock import format_ts
from tailguard.ledger import LedgerRecord
from tailguard.service.auth import Principal, Role, require_role
from tailguard.service.settings import ServiceState


def get_state(request: Request) -> ServiceState:
    """The app's :class:`ServiceState`."""
    state: ServiceState = request.app.state.tailguard
    return state


State = Annotated[ServiceState, Depends(get_state)]
Viewer = Annotated[Principal, Depends(require_role(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require_role(Role.OPERATOR))]
Approver = Annotated[Principal, Depends(require_role(Role.APPROVER))]
Admin = Annotated[Principal, Depends(require_role(Role.ADMIN))]


def record_dict(record: LedgerRecord) -> dict[str, Any]:
    """A record's fields with its ``seq`` and ``recorded_at``."""
    return {**record.fields, "seq": record.seq, "recorded_at": format_ts(record.recorded_at)}


def utc(when: datetime | None) -> datetime | None:
    """``when`` as an aware UTC datetime (naive input is taken as UTC)."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def rfc3339(value: Any) -> Any:
    """An RFC 3339 timestamp with its offset (the schema's ``date-time``), and nothing else.

    Pydantic's datetime would also take a bare date, a time without offset or a number of
    seconds; the schema promises ``date-time``, so those are refused (422) as it says.
    """
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("an RFC 3339 timestamp with an offset, e.g. 2026-03-02T09:00:00Z")
    text = value.upper().replace("Z", "+00:00")
    try:
        # In UTC here: 9999-12-31T23:59:59-23:59 is a valid timestamp whose UTC time is past
        # what a datetime holds (a 500 later, when anything converts it).
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("a timestamp between years 1 and 9999 in UTC") from None


Timestamp = Annotated[datetime, BeforeValidator(rfc3339)]
"""A query parameter's time: RFC 3339 with an offset (``Z`` or ``+hh:mm``)."""
