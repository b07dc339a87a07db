"""The event bus on NATS JetStream: a stream, a durable pull consumer, explicit acks.

nats-py is asyncio-only; the bus owns a private event loop on a daemon thread and exposes the
synchronous :class:`~tailguard.events.bus.base.Bus` methods by submitting coroutines to it, so
callers need no event loop of their own. Each message is one Arrow IPC batch (kept under the
server's ``max_payload`` by halving). A message not acked within the visibility timeout (the
consumer's ``ack_wait``) is redelivered by the server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
import pyarrow as pa
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

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
from tailguard.events.bus.wire import WireFormat, decode_message, encode_message
from tailguard.events.deadletter import AlreadyRecorded, DeadLetterSink

_log = logging.getLogger("tailguard.events.nats")


R = TypeVar("R")

#: The shortest fetch wait: a JetStream pull is a request, so "no wait" still needs a reply.
MIN_FETCH_WAIT = 0.05


class NatsJetStreamBus:
    """A :class:`~tailguard.events.bus.base.Bus` on a JetStream stream and durable consumer.

    Args:
        url: ``nats://host:port``.
        stream: the stream name (created with ``subject`` if missing).
        subject: the subject events are published on (default ``<stream>.events``).
        durable: the durable consumer shared by competing consumers.
        visibility_timeout: the consumer's ack wait, in seconds.
        batch_events: the most events per message.
        dead_letter: where undecodable messages go (without one, they raise).
        op_timeout: seconds any single server round trip may take.
        max_age: seconds the server keeps a message, set when this bus creates the stream
            (None: no limit; an existing stream keeps its own setting).
        format: what :meth:`publish` writes (``auto`` and ``arrow``: Arrow IPC; ``json``),
            with its ``Content-Type`` header, and how a message without that header is read
            (``auto``: by its first byte).
    """

    def __init__(
        self,
        url: str,
        *,
        stream: str,
        subject: str | None = None,
        durable: str = "tailguard",
        visibility_timeout: float = 30.0,
        batch_events: int = DEFAULT_BATCH_EVENTS,
        dead_letter: DeadLetterSink | None = None,
        op_timeout: float = 10.0,
        format: WireFormat = WireFormat.auto,
        max_age: float | None = None,
    ) -> None:
        if visibility_timeout <= 0 or batch_events < 1:
            raise InvalidInputError("visibility_timeout and batch_events must be positive")
        self.stream = stream
        self.subject = subject or f"{stream}.events"
        self.durable = durable
        self.batch_events = batch_events
        self._visibility = visibility_timeout
        self._dead_letter = dead_letter
        self._op_timeout = op_timeout
        self.format = format
        self.max_age = max_age
        self._carry: list[tuple[Any, pa.Table]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"nats-bus-{stream}", daemon=True
        )
        self._thread.start()
        try:
            self._run(self._connect(url))
        except BaseException:
            self._stop_loop()
            raise

    async def _on_error(self, exc: Exception) -> None:
        """nats-py's error callback: one line, no traceback (its default logs a traceback for
        every failed attempt). Before the first connection it is debug only: a server that
        cannot be reached at all is raised once as BackendUnavailableError."""
        nc = getattr(self, "_nc", None)
        connected = nc is not None and nc.is_connected
        _log.log(
            logging.WARNING if connected else logging.DEBUG,
            "nats: %s: %s",
            type(exc).__name__,
            exc,
        )

    async def _connect(self, url: str) -> None:
        try:
            self._nc = await nats.connect(
                url,
                connect_timeout=3,
                max_reconnect_attempts=2,
                allow_reconnect=True,
                error_cb=self._on_error,
            )
        except (OSError, nats.errors.Error) as exc:
            raise BackendUnavailableError(f"NATS at {url} is not reachable: {exc}") from None
        self._js = self._nc.jetstream()
        try:
            await self._js.stream_info(self.stream)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(
                name=self.stream, subjects=[self.subject], max_age=self.max_age
            )
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self._visibility,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,
            max_ack_pending=-1,
        )
        self._sub = await self._js.pull_subscribe(
            self.subject, durable=self.durable, stream=self.stream, config=config
        )

    def _run(self, coro: Coroutine[Any, Any, R], timeout: float | None = None) -> R:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout or self._op_timeout)
        except TimeoutError:
            future.cancel()
            raise BackendUnavailableError(f"NATS: no answer on {self.stream} in time") from None
        except (nats.errors.Error, OSError) as exc:
            raise BackendUnavailableError(f"NATS: {exc}") from None

    def publish(self, table: pa.Table) -> int:
        """Publish the events as messages of at most ``batch_events``; returns how many."""
        wide = conform(table)
        self._run(self._publish(split(wide, self.batch_events)))
        return int(wide.num_rows)

    async def _publish(self, parts: list[pa.Table]) -> None:
        limit = self._nc.max_payload - 1024
        for part in parts:
            payload, content_type = encode_message(part, self.format)
            if len(payload) > limit and part.num_rows > 1:
                half = part.num_rows // 2
                await self._publish([part.slice(0, half), part.slice(half)])
                continue
            await self._js.publish(
                self.subject, payload, stream=self.stream, headers={"Content-Type": content_type}
            )

    def fetch(self, max_events: int, *, timeout: float = 0.0) -> Delivery:
        """Up to ``max_events`` events; waits at least :data:`MIN_FETCH_WAIT` seconds if none."""
        check_fetch_args(max_events, timeout)
        with self._lock:
            have = sum(t.num_rows for _, t in self._carry)
            if have < max_events:
                want = max(1, (max_events - have) // self.batch_events)
                wait = MIN_FETCH_WAIT if self._carry else max(timeout, MIN_FETCH_WAIT)
                msgs = self._run(self._fetch(want, wait), timeout=wait + self._op_timeout)
                for msg in msgs:
                    source = f"nats stream {self.stream}"
                    message_id = str(msg.metadata.sequence.stream)
                    try:
                        table = decode_message(
                            msg.data,
                            content_type=_content_type(msg.headers),
                            setting=self.format,
                            dead_letter=self._dead_letter,
                            source=f"{source} message {message_id}",
                        )
                    except InvalidInputError as exc:
                        reject_message(
                            self._dead_letter,
                            source=source,
                            message_id=message_id,
                            data=msg.data,
                            error=exc,
                        )
                        self._run(msg.ack())
                        continue
                    self._carry.append((msg, table))
            taken, _ = pack(self._carry, max_events)
            tables = [t for _, t in self._carry[: len(taken)]]
            self._carry = self._carry[len(taken) :]
        return Delivery(table=concat(tables), token=tuple(taken))

    async def _fetch(self, want: int, wait: float) -> list[Any]:
        try:
            return list(await self._sub.fetch(batch=want, timeout=wait))
        except (TimeoutError, nats.errors.TimeoutError):
            return []

    def backlog(self) -> int | None:
        """Messages not yet delivered to the consumer plus those delivered and not acked."""
        info = self._run(self._js.consumer_info(self.stream, self.durable))
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    def waiting(self) -> int:
        """Messages the consumer has not been handed yet (delivered and unacked ones, which
        come back only after the visibility timeout, are not counted)."""
        info = self._run(self._js.consumer_info(self.stream, self.durable))
        return int(info.num_pending or 0)

    def ack(self, delivery: Delivery) -> None:
        """Ack every message of the delivery and wait until the server has them."""
        msgs = delivery.token
        if isinstance(msgs, tuple) and msgs:
            self._run(self._ack(msgs))

    async def _ack(self, msgs: tuple[Any, ...]) -> None:
        for msg in msgs:
            await msg.ack()
        await self._nc.flush()

    def replay(self) -> Iterator[pa.Table]:
        """Every message the stream still holds, oldest first, whatever the consumer has
        read or acked: how a restarted consumer rebuilds the state it lost (the durable
        consumer is not touched). Read by sequence number, one direct get each; messages
        that cannot be read are skipped (they go to the dead-letter file when delivered; a JSON message's bad events
        are dropped here for the same reason)."""
        state = self._run(self._js.stream_info(self.stream)).state
        for seq in range(int(state.first_seq or 1), int(state.last_seq or 0) + 1):
            msg = self._run(self._get(seq))
            if msg is None or msg.data is None:
                continue
            try:
                yield decode_message(
                    msg.data,
                    content_type=_content_type(msg.headers),
                    setting=self.format,
                    dead_letter=AlreadyRecorded(),
                    source=f"nats stream {self.stream} message {seq}",
                )
            except InvalidInputError:
                continue

    async def _get(self, seq: int) -> Any:
        try:
            return await self._js.get_msg(self.stream, seq=seq)
        except nats.js.errors.NotFoundError:  # deleted (limits): nothing to read
            return None

    def drop(self) -> None:
        """Delete the stream (and its consumers) from the server (teardown, tests)."""
        self._run(self._js.delete_stream(self.stream))

    def close(self) -> None:
        """Close the connection and stop the private event loop."""
        if self._loop.is_closed():
            return
        try:
            if hasattr(self, "_nc") and not self._nc.is_closed:
                self._run(self._nc.close())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


def _content_type(headers: dict[str, str] | None) -> str | None:
    """The message's ``Content-Type`` header, whatever its capitalisation."""
    for name, value in (headers or {}).items():
        if name.lower() == "content-type":
            return value
    return None
