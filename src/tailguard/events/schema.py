"""The event language of INTERFACES.md section 1, as Arrow schemas.

Inside tailguard a batch of events is one Arrow table (or Polars frame) in :data:`WIDE_SCHEMA`:
the union of every type's fields, nullable, so batches of mixed types concatenate without
conversion. :data:`EVENT_SCHEMAS` gives the narrow schema of each type (the common fields plus
that type's own), used for per-type files and for validation. Timestamps are microseconds, UTC.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import pyarrow as pa

TS: Final = pa.timestamp("us", tz="UTC")

#: Fields every event has, in order.
COMMON_FIELDS: Final[tuple[pa.Field, ...]] = (
    pa.field("event_id", pa.string(), nullable=False),
    pa.field("type", pa.string(), nullable=False),
    pa.field("ts", TS, nullable=False),
    pa.field("area_id", pa.string(), nullable=False),
)

#: Every type-specific field with its Arrow type (a field keeps one type across event types).
FIELD_TYPES: Final[MappingProxyType[str, pa.DataType]] = MappingProxyType(
    {
        "job_id": pa.string(),
        "customer_id": pa.string(),
        "tech_id": pa.string(),
        "zip": pa.string(),
        "job_code": pa.string(),
        "window_start": TS,
        "window_end": TS,
        "arrived_at": TS,
        "completed_at": TS,
        "revenue": pa.float64(),
        "parts_cost": pa.float64(),
        "tech_pay": pa.float64(),
        "first_time_fix": pa.bool_(),
        "recall_of_job_id": pa.string(),
        "original_tech_id": pa.string(),
        "parts_prestaged": pa.int32(),
        "parts_used": pa.int32(),
        "status": pa.string(),
        "nps": pa.int8(),
        "sentiment": pa.float64(),
        "locker_id": pa.string(),
        "sku": pa.string(),
        "on_hand": pa.int32(),
        "lead_time_days": pa.float64(),
        "eta": TS,
    }
)

#: The fields of each event type beyond the common ones, in the order INTERFACES.md lists them.
TYPE_FIELDS: Final[MappingProxyType[str, tuple[str, ...]]] = MappingProxyType(
    {
        "job.booked": ("job_id", "customer_id", "zip", "job_code", "window_start", "window_end"),
        "job.completed": (
            "job_id",
            "tech_id",
            "customer_id",
            "zip",
            "job_code",
            "window_end",
            "arrived_at",
            "completed_at",
            "revenue",
            "parts_cost",
            "tech_pay",
            "first_time_fix",
            "recall_of_job_id",
            "original_tech_id",
            "parts_prestaged",
            "parts_used",
        ),
        "tech.status": ("tech_id", "status"),
        "cx.survey": ("job_id", "customer_id", "tech_id", "nps"),
        "cx.chat": ("customer_id", "sentiment"),
        "parts.stock": ("locker_id", "sku", "on_hand", "lead_time_days"),
        "eta.update": ("job_id", "tech_id", "eta"),
    }
)

#: Type-specific fields whose value may be null (the field must still be present in JSON).
NULLABLE_FIELDS: Final[frozenset[str]] = frozenset({"recall_of_job_id", "original_tech_id"})

EVENT_TYPES: Final[tuple[str, ...]] = tuple(TYPE_FIELDS)

TECH_STATUSES: Final[tuple[str, ...]] = ("available", "busy", "offline", "churned")

#: Extra fields of an event (kept, ignored) travel as one JSON object string, null if none.
EXTRA_FIELD: Final = pa.field("extra", pa.string(), nullable=True)

WIDE_SCHEMA: Final[pa.Schema] = pa.schema(
    [
        *COMMON_FIELDS,
        *(pa.field(name, typ, nullable=True) for name, typ in FIELD_TYPES.items()),
        EXTRA_FIELD,
    ]
)


def _narrow(event_type: str) -> pa.Schema:
    own = [
        pa.field(name, FIELD_TYPES[name], nullable=name in NULLABLE_FIELDS)
        for name in TYPE_FIELDS[event_type]
    ]
    return pa.schema([*COMMON_FIELDS, *own, EXTRA_FIELD])


EVENT_SCHEMAS: Final[MappingProxyType[str, pa.Schema]] = MappingProxyType(
    {event_type: _narrow(event_type) for event_type in EVENT_TYPES}
)


def empty_batch() -> pa.Table:
    """An empty table in the wide schema."""
    return WIDE_SCHEMA.empty_table()
