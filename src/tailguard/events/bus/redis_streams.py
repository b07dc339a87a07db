"""The event bus on Redis Streams: XADD per message, consumer groups, XAUTOCLAIM for strays.

Each message is one stream entry ``{"ipc": <Arrow IPC bytes>, "n": <events>}``. Consumers of
one group share the stream (XREADGROUP ``>``); an entry read but not XACKed within the
visibility timeout is taken over by the next fetch of any consumer in the group (XAUTOCLAIM),
which makes delivery at-least-once. Entries stay in the stream after acking (other groups may
still need them); trim it with your retention policy, or :meth:`RedisStreamsBus.drop` it.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import pyarrow as pa
import redis

from tailguard.errors import BackendUnavailableError, InvalidInputError
from tailguard.events.bus.base import (
    DEFAULT_BATCH_EVENTS,
    Delivery,
    check_fetch_args,
    concat,
    conform,
    decode,
    encode,
    pack,
    reject_message,
    split,
)
from tailguard.events.deadletter import DeadLetterSink


class RedisStreamsBus:
    """A :class:`~tailguard.events.bus.base.Bus` on one Redis stream and consumer group.

    Args:
        url: ``redis://host:port/db``.
        stream: the stream key.
        group: the consumer group (created at the start of the stream if missing).
        consumer: this consumer's name in the group (unique per process by default).
        visibility_timeout: seconds before an unacked entry is redelivered.
        batch_events: the most events per stream entry.
        dead_letter: where undecodable entries go (without one, they raise).
    """

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        group: str = "tailguard",
        consumer: str | None = None,
        visibility_timeout: float = 30.0,
        batch_events: int = DEFAULT_BATCH_EVENTS,
        dead_letter: DeadLetterSink | None = None,
    ) -> None:
        if visibility_timeout <= 0 or batch_events < 1:
            raise InvalidInputError("visibility_timeout and batch_events must be positive")
        self.stream = stream
        self.group = group
        self.consumer = consumer or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.batch_events = batch_events
        self._idle_ms = int(visibility_timeout * 1000)
        self._dead_letter = dead_letter
        self._carry: list[tuple[str, pa.Table]] = []
        self._lock = threading.Lock()
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5)
        try:
            self._redis.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise BackendUnavailableError(f"redis: cannot create group: {exc}") from None
        except redis.RedisError as exc:
            raise BackendUnavailableError(f"redis at {url} is not reachable: {exc}") from None

    def publish(self, table: pa.Table) -> int:
        """XADD the events as entries of at most ``batch_events``; returns how many."""
        wide = conform(table)
        pipe = self._redis.pipeline(transaction=False)
        for part in split(wide, self.batch_events):
            pipe.xadd(self.stream, {"ipc": encode(part), "n": part.num_rows})
        self._call(pipe.execute)
        return int(wide.num_rows)

    def fetch(self, max_events: int, *, timeout: float = 0.0) -> Delivery:
        """Up to ``max_events`` events: carried-over entries, reclaimed strays, then new ones."""
        check_fetch_args(max_events, timeout)
        with self._lock:
            have = sum(t.num_rows for _, t in self._carry)
            if have < max_events:
                want = max(1, (max_events - have) // self.batch_events)
                claimed = self._call(
                    self._redis.xautoclaim,
                    self.stream,
                    self.group,
                    self.consumer,
                    min_idle_time=self._idle_ms,
                    start_id="0-0",
                    count=want,
                )
                self._take(claimed[1])
                have = sum(t.num_rows for _, t in self._carry)
            if have < max_events:
                want = max(1, (max_events - have) // self.batch_events)
                block = int(timeout * 1000) if timeout > 0 and not self._carry else None
                if block == 0:
                    block = 1  # BLOCK 0 would mean forever
                read = self._call(
                    self._redis.xreadgroup,
                    self.group,
                    self.consumer,
                    {self.stream: ">"},
                    count=want,
                    block=block,
                )
                for _stream, entries in read or []:
                    self._take(entries)
            ids, _ = pack(self._carry, max_events)
            tables = [t for _, t in self._carry[: len(ids)]]
            self._carry = self._carry[len(ids) :]
        return Delivery(table=concat(tables), token=tuple(ids))

    def ack(self, delivery: Delivery) -> None:
        """XACK the delivery's entries."""
        ids = delivery.token
        if isinstance(ids, tuple) and ids:
            self._call(self._redis.xack, self.stream, self.group, *ids)

    def drop(self) -> None:
        """Delete the stream and its groups from Redis (teardown, tests)."""
        self._call(self._redis.delete, self.stream)

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()

    def _take(self, entries: list[Any]) -> None:
        carried = {message_id for message_id, _ in self._carry}
        for entry_id, fields in entries:
            message_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            if message_id in carried:
                continue  # our own carried-over entry went idle: it is still ours
            if not fields:
                continue  # deleted from the stream while pending: nothing left to deliver
            data = fields.get(b"ipc", b"")
            try:
                table = decode(data)
            except InvalidInputError as exc:
                reject_message(
                    self._dead_letter,
                    source=f"redis stream {self.stream}",
                    message_id=message_id,
                    data=data,
                    error=exc,
                )
                self._call(self._redis.xack, self.stream, self.group, message_id)
                continue
            self._carry.append((message_id, table))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except redis.ConnectionError as exc:
            raise BackendUnavailableError(f"redis: {exc}") from None
        except redis.ResponseError as exc:
            raise BackendUnavailableError(f"redis refused {self.stream}: {exc}") from None
