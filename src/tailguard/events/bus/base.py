"""The event bus interface and what every backend shares: message encoding and packing.

A bus carries batches of events between processes with at-least-once delivery: a consumer
fetches up to N events, processes them and acks; whatever is not acked within the visibility
timeout is delivered again (to this or another consumer of the same group). Consumers that
must count each event once pass deliveries through a
:class:`~tailguard.events.dedup.Deduplicator`.

On the wire a message is one Arrow IPC stream (zstd-compressed) of at most ``batch_events``
events in the wide schema, or with ``format=json`` a JSON array of event objects; ``publish``
cuts larger tables. What other producers may put on a bus (JSON) is :mod:`.wire`. A delivery holds whole messages and at
most ``max_events`` events, except that a single message larger than ``max_events`` (published
by a producer with a larger ``batch_events``) is delivered alone rather than split.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar, runtime_checkable

import pyarrow as pa

from tailguard.errors import InvalidInputError
from tailguard.events.deadletter import DeadLetterSink
from tailguard.events.schema import WIDE_SCHEMA

#: Events per published message unless a bus is told otherwise.
DEFAULT_BATCH_EVENTS: Final = 1_000

_IPC_OPTIONS: Final = pa.ipc.IpcWriteOptions(compression="zstd")

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivery:
    """Events handed to a consumer, and the opaque handle that acks them.

    An empty delivery (nothing was waiting) has an empty table; acking it is a no-op.
    """

    table: pa.Table
    token: object


@runtime_checkable
class Bus(Protocol):
    """A batch event bus with at-least-once delivery."""

    def publish(self, table: pa.Table) -> int:
        """Send a batch of events (wide schema); returns how many were sent."""
        ...

    def fetch(self, max_events: int, *, timeout: float = 0.0) -> Delivery:
        """Up to ``max_events`` events, waiting up to ``timeout`` seconds if none is ready."""
        ...

    def ack(self, delivery: Delivery) -> None:
        """Confirm a delivery was processed, so it is not delivered again."""
        ...

    def close(self) -> None:
        """Release connections and threads (published events stay on the server)."""
        ...

    def backlog(self) -> int | None:
        """Messages waiting for this consumer group (not yet delivered, or not acked); None
        when the server cannot tell. For progress reports, not for flow control."""
        ...


def conform(table: pa.Table | pa.RecordBatch) -> pa.Table:
    """A table in exactly the wide schema (columns reordered, types cast), or a clear error.

    Raises:
        InvalidInputError: columns are missing or cannot be cast.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if table.schema.equals(WIDE_SCHEMA, check_metadata=False):
        return table
    try:
        return table.select(WIDE_SCHEMA.names).cast(WIDE_SCHEMA)
    except (KeyError, ValueError, pa.ArrowException) as exc:
        raise InvalidInputError(f"not a table in the wide event schema: {exc}") from None


def split(table: pa.Table, batch_events: int) -> list[pa.Table]:
    """``table`` cut into consecutive slices of at most ``batch_events`` rows."""
    return [table.slice(start, batch_events) for start in range(0, table.num_rows, batch_events)]


def encode(table: pa.Table) -> bytes:
    """One message: the table as a zstd-compressed Arrow IPC stream."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, WIDE_SCHEMA, options=_IPC_OPTIONS) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def decode(data: bytes) -> pa.Table:
    """The table inside one message.

    Raises:
        InvalidInputError: the bytes are not an Arrow IPC stream of the wide schema.
    """
    try:
        with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
            table = reader.read_all()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InvalidInputError(f"bus message is not an Arrow IPC stream: {exc}") from None
    if not table.schema.equals(WIDE_SCHEMA, check_metadata=False):
        raise InvalidInputError("bus message is not in the wide event schema")
    return table


def reject_message(
    sink: DeadLetterSink | None, *, source: str, message_id: str, data: bytes, error: Exception
) -> None:
    """Send an undecodable message to the dead letter, or raise if there is no sink."""
    if sink is None:
        raise InvalidInputError(
            f"{source}: message {message_id} cannot be decoded ({error}); "
            "it stays unacked (give the bus a dead_letter sink to set it aside)"
        )
    sink.add(
        reason=f"message {message_id}: {error}",
        raw=base64.b64encode(data[:4096]).decode("ascii"),
        source=source,
        line=None,
    )


def pack(messages: Sequence[tuple[T, pa.Table]], max_events: int) -> tuple[list[T], int]:
    """How many leading messages fit in ``max_events`` (always at least one, if any).

    Returns:
        The ids of the messages taken and their count of events.
    """
    taken: list[T] = []
    total = 0
    for message_id, table in messages:
        if taken and total + table.num_rows > max_events:
            break
        taken.append(message_id)
        total += table.num_rows
    return taken, total


def concat(tables: Sequence[pa.Table]) -> pa.Table:
    """Tables of one delivery as one table (an empty wide table if there are none)."""
    return pa.concat_tables(tables) if tables else WIDE_SCHEMA.empty_table()


def check_fetch_args(max_events: int, timeout: float) -> None:
    """Refuse nonsense fetch arguments with a clear error."""
    if max_events < 1:
        raise InvalidInputError(f"max_events must be at least 1, got {max_events}")
    if timeout < 0:
        raise InvalidInputError(f"timeout must not be negative, got {timeout}")
