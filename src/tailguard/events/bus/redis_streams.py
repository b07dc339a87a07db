"""The event bus on Redis Streams: XADD per message, consumer groups, XAUTOCLAIM for strays.

Each message is one stream entry. tailguard writes ``{"ipc": <Arrow IPC bytes>, "n": <events>}``
(or, with ``format=json``, ``{"data": <JSON array>, "content-type": "application/json", "n":
<events>}``); other producers may write ``{"data": ..., "content-type": ...}`` or just
``{"json": <an event object or an array of them>}`` (:mod:`.wire`). Consumers of
one group share the stream (XREADGROUP ``>``); an entry read but not XACKed within the
visibility timeout is taken over by the next fetch of any consumer in the group (XAUTOCLAIM),
which makes delivery at-least-once. A blocking read never waits as long as the socket timeout:
a long wait is cut into shorter XREADGROUP calls, so an idle stream is not an error. Entries stay in the stream after acking (other groups may
still need them); trim it with your retention policy, or :meth:`RedisStreamsBus.drop` it.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
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
    pack,
    reject_message,
    split,
)
from tailguard.events.bus.wire import (
    ARROW_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    WireFormat,
    decode_message,
    encode_message,
)
from tailguard.events.deadletter import AlreadyRecorded, DeadLetterSink

#: Seconds a blocking read leaves between its wait and the socket timeout.
_BLOCK_MARGIN = 1.0


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
        format: what :meth:`publish` writes (``auto`` and ``arrow``: Arrow IPC; ``json``), and
            how an entry without a content type is read (``auto``: by its first byte).
        socket_timeout: seconds any single server round trip may take; blocking reads are cut
            into waits shorter than this.
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
        format: WireFormat = WireFormat.auto,
        socket_timeout: float = 10.0,
    ) -> None:
        if visibility_timeout <= 0 or batch_events < 1 or socket_timeout <= 0:
            raise InvalidInputError(
                "visibility_timeout, batch_events and socket_timeout must be positive"
            )
        self.stream = stream
        self.group = group
        self.consumer = consumer or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.batch_events = batch_events
        self._idle_ms = int(visibility_timeout * 1000)
        self._dead_letter = dead_letter
        self.format = format
        self._socket_timeout = socket_timeout
        self._carry: list[tuple[str, pa.Table]] = []
        self._lock = threading.Lock()
        self._redis = redis.Redis.from_url(
            url, socket_connect_timeout=5, socket_timeout=socket_timeout
        )
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
            payload, content_type = encode_message(part, self.format)
            if self.format is WireFormat.json:
                fields = {"data": payload, "content-type": content_type, "n": part.num_rows}
            else:
                fields = {"ipc": payload, "n": part.num_rows}
            pipe.xadd(self.stream, fields)  # type: ignore[arg-type]
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
                self._read_new(want, 0.0 if self._carry else timeout)
            ids, _ = pack(self._carry, max_events)
            tables = [t for _, t in self._carry[: len(ids)]]
            self._carry = self._carry[len(ids) :]
        return Delivery(table=concat(tables), token=tuple(ids))

    def _read_new(self, want: int, timeout: float) -> None:
        """XREADGROUP new entries, waiting up to ``timeout`` in waits the socket outlasts."""
        give_up = time.monotonic() + timeout
        longest = max(0.001, self._socket_timeout - _BLOCK_MARGIN, self._socket_timeout / 2)
        while True:
            left = give_up - time.monotonic()
            # BLOCK 0 would mean forever; no BLOCK at all is a plain poll.
            block = max(1, int(min(left, longest) * 1000)) if left > 0 else None
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
            if read or block is None or time.monotonic() >= give_up:
                return

    def backlog(self) -> int | None:
        """Entries not yet read by the group plus those read and not acked (None: unknown)."""
        groups = self._call(self._redis.xinfo_groups, self.stream)
        for info in groups:
            name = info.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == self.group:
                lag = info.get("lag")
                if lag is None:  # Redis before 7, or a lag it cannot tell
                    return None
                return int(lag) + int(info.get("pending") or 0)
        return None

    def waiting(self) -> int | None:
        """Entries the group has not read yet (read and unacked ones, which come back only
        after the visibility timeout, are not counted); None: Redis cannot tell (before 7)."""
        for info in self._call(self._redis.xinfo_groups, self.stream):
            name = info.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == self.group:
                lag = info.get("lag")
                return None if lag is None else int(lag)
        return None

    def ack(self, delivery: Delivery) -> None:
        """XACK the delivery's entries."""
        ids = delivery.token
        if isinstance(ids, tuple) and ids:
            self._call(self._redis.xack, self.stream, self.group, *ids)

    def replay(self, *, chunk: int = 100) -> Iterator[pa.Table]:
        """Every entry the stream still holds, oldest first, whatever the group has read or
        acked: how a restarted consumer rebuilds the state it lost (the group and its pending
        entries are not touched). Entries that cannot be read are skipped (they go to the
        dead-letter file when they are delivered; a JSON message's bad events are dropped here
        for the same reason)."""
        start = "-"
        while True:
            entries = self._call(self._redis.xrange, self.stream, min=start, max="+", count=chunk)
            for entry_id, fields in entries:
                message_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                try:
                    data, content_type = _payload(fields)
                    yield decode_message(
                        data,
                        content_type=content_type,
                        setting=self.format,
                        dead_letter=AlreadyRecorded(),
                        source=f"redis stream {self.stream} entry {message_id}",
                    )
                except InvalidInputError:
                    continue
            if len(entries) < chunk:
                return
            start = f"({message_id}"  # exclusive: after the last entry read

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
            source = f"redis stream {self.stream}"
            data = b""
            try:
                data, content_type = _payload(fields)
                table = decode_message(
                    data,
                    content_type=content_type,
                    setting=self.format,
                    dead_letter=self._dead_letter,
                    source=f"{source} entry {message_id}",
                )
            except InvalidInputError as exc:
                reject_message(
                    self._dead_letter,
                    source=source,
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
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise BackendUnavailableError(f"redis: {exc}") from None
        except redis.ResponseError as exc:
            raise BackendUnavailableError(f"redis refused {self.stream}: {exc}") from None


def _payload(fields: dict[bytes, bytes]) -> tuple[bytes, str | None]:
    """An entry's body and content type: ``ipc`` (Arrow), ``data`` or ``json``."""
    content_type = fields.get(b"content-type") or fields.get(b"content_type")
    declared = content_type.decode("utf-8", errors="replace") if content_type else None
    if b"ipc" in fields:
        return fields[b"ipc"], declared or ARROW_CONTENT_TYPE
    if b"data" in fields:
        return fields[b"data"], declared
    if b"json" in fields:
        return fields[b"json"], declared or JSON_CONTENT_TYPE
    names = ", ".join(sorted(k.decode("utf-8", errors="replace") for k in fields))
    raise InvalidInputError(f"entry has none of the fields ipc, data, json (it has {names})")
