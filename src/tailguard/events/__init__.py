"""The event language: schema, readers and writers, validation with dead-letter, dedup, bus."""

from tailguard.events.schema import (
    EVENT_SCHEMAS,
    EVENT_TYPES,
    TECH_STATUSES,
    TYPE_FIELDS,
    WIDE_SCHEMA,
)

__all__ = ["EVENT_SCHEMAS", "EVENT_TYPES", "TECH_STATUSES", "TYPE_FIELDS", "WIDE_SCHEMA"]
