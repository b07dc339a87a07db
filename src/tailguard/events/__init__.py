"""The event language: schema, readers and writers, validation with dead-letter, dedup, bus."""

from tailguard.events.bus import (
    Bus,
    Delivery,
    MemoryBus,
    NatsJetStreamBus,
    RedisStreamsBus,
    open_bus,
)
from tailguard.events.deadletter import DeadLetterSink
from tailguard.events.dedup import Deduplicator
from tailguard.events.io import EventWriter, read_all, read_events, write_events
from tailguard.events.schema import (
    EVENT_SCHEMAS,
    EVENT_TYPES,
    NULLABLE_FIELDS,
    TECH_STATUSES,
    TYPE_FIELDS,
    WIDE_SCHEMA,
    empty_batch,
)
from tailguard.events.synthetic import synthetic_events
from tailguard.events.tables import validate_table
from tailguard.events.validate import validate_records

__all__ = [
    "EVENT_SCHEMAS",
    "EVENT_TYPES",
    "NULLABLE_FIELDS",
    "TECH_STATUSES",
    "TYPE_FIELDS",
    "WIDE_SCHEMA",
    "Bus",
    "DeadLetterSink",
    "Deduplicator",
    "Delivery",
    "EventWriter",
    "MemoryBus",
    "NatsJetStreamBus",
    "RedisStreamsBus",
    "empty_batch",
    "open_bus",
    "read_all",
    "read_events",
    "synthetic_events",
    "validate_records",
    "validate_table",
    "write_events",
]
