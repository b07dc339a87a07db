"""The JSON Schema of every event type, derived from the Arrow schemas (never written by hand).

``tailguard events schema`` prints it and ``docs/events.schema.json`` is its committed copy; a
test keeps both equal to what this module derives from :data:`~tailguard.events.EVENT_SCHEMAS`
and the validation rules, so the published schema cannot drift from what tailguard accepts.

The document is JSON Schema 2020-12: one definition per event type under ``$defs`` (keyed by
the type name), and a top level that picks the definition by the ``type`` field. Extra fields
are allowed (tailguard keeps and ignores them).
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa

from tailguard.events._rules import FLOAT_BOUNDS, INT_BOUNDS
from tailguard.events.schema import EVENT_SCHEMAS, EXTRA_FIELD, TECH_STATUSES

SCHEMA_ID: Final = "https://tailguard.dev/schemas/events.schema.json"
DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

_DESCRIPTIONS: Final = {
    "event_id": "Unique; a repeated event_id is a duplicate delivery and counts once.",
    "type": "The event type.",
    "ts": "When it happened (RFC 3339, UTC).",
    "area_id": "The planning area, e.g. PA-0042.",
    "revenue": "USD.",
    "parts_cost": "USD.",
    "tech_pay": "USD.",
    "recall_of_job_id": "The job this visit redoes, or null.",
    "original_tech_id": "The tech whose earlier job this visit redoes, or null.",
}


def _int_range(typ: pa.DataType) -> tuple[int, int]:
    bits = typ.bit_width
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def field_schema(field: pa.Field) -> dict[str, Any]:
    """The JSON Schema of one event field, from its Arrow type and the validation bounds."""
    typ = field.type
    out: dict[str, Any]
    if pa.types.is_timestamp(typ):
        out = {"type": "string", "format": "date-time"}
    elif pa.types.is_floating(typ):
        out = {"type": "number"}
        low, high = FLOAT_BOUNDS.get(field.name, (float("-inf"), float("inf")))
        if low != float("-inf"):
            out["minimum"] = low
        if high != float("inf"):
            out["maximum"] = high
    elif pa.types.is_integer(typ):
        low_i, high_i = INT_BOUNDS.get(field.name, _int_range(typ))
        out = {"type": "integer", "minimum": low_i, "maximum": high_i}
    elif pa.types.is_boolean(typ):
        out = {"type": "boolean"}
    elif pa.types.is_string(typ):
        out = {"type": "string"}
    else:  # pragma: no cover - the event schemas hold only the types above
        raise TypeError(f"no JSON Schema for Arrow type {typ}")
    if field.name == "status":
        out["enum"] = list(TECH_STATUSES)
    if field.nullable:
        out["type"] = [out["type"], "null"]
    if field.name in _DESCRIPTIONS:
        out["description"] = _DESCRIPTIONS[field.name]
    return out


def type_schema(event_type: str) -> dict[str, Any]:
    """The JSON Schema of one event type."""
    fields = [f for f in EVENT_SCHEMAS[event_type] if f.name != EXTRA_FIELD.name]
    properties = {f.name: field_schema(f) for f in fields}
    properties["type"] = {"const": event_type, "description": _DESCRIPTIONS["type"]}
    return {
        "title": event_type,
        "type": "object",
        "properties": properties,
        "required": [f.name for f in fields],
        "additionalProperties": True,
    }


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema document of every event type (INTERFACES.md section 1)."""
    types = list(EVENT_SCHEMAS)
    return {
        "$schema": DIALECT,
        "$id": SCHEMA_ID,
        "title": "tailguard event",
        "description": "One event of the tailguard event language. A bus message holds one "
        "event object or a JSON array of them; an event file holds one per line.",
        "type": "object",
        "required": ["event_id", "type", "ts", "area_id"],
        "properties": {"type": {"enum": types}},
        "allOf": [
            {
                "if": {"properties": {"type": {"const": t}}, "required": ["type"]},
                "then": {"$ref": f"#/$defs/{t}"},
            }
            for t in types
        ],
        "$defs": {t: type_schema(t) for t in types},
    }
