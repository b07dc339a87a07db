"""The in-memory bus: thread-safe, at-least-once, for tests, the demo and one-process runs."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass

import pyarrow as pa

from tailguard.clock import Clock, SystemClock
from tailguard.errors import InvalidInputError
from tailguard.events.bus.base import (
    DEFAULT_BATCH_EVENTS,
    Delivery,
    check_fetch_args,
    concat,
    conform,
    pack,
    split,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Lease:
    deadline: float
    messages: tuple[tuple[int, pa.Table], ...]


class MemoryBus:
    """A queue of event batches shared by competing consumers in one process.

    Unacked deliveries go back to the front of the queue once ``visibility_timeout`` seconds
    (on ``clock.monotonic()``) have passed, so a consumer that dies mid-batch loses nothing.

    Args:
        visibility_timeout: seconds a delivery stays leased before it is redelivered.
        clock: the clock leases are measured on (a ``FakeClock`` makes redelivery exact).
        batch_events: the most events per message.
    """

    def __init__(
        self,
        *,
        visibility_timeout: float = 30.0,
        clock: Clock | None = None,
        batch_events: int = DEFAULT_BATCH_EVENTS,
    ) -> None:
        if visibility_timeout <= 0 or batch_events < 1:
            raise InvalidInputError("visibility_timeout and batch_events must be positive")
        self.visibility_timeout = visibility_timeout
        self.batch_events = batch_events
        self._clock: Clock = clock or SystemClock()
        self._ready: deque[tuple[int, pa.Table]] = deque()
        self._leases: dict[int, _Lease] = {}
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._closed = False

    def publish(self, table: pa.Table) -> int:
        """Queue a batch of events; returns how many."""
        wide = conform(table)
        with self._cond:
            self._check_open()
            for part in split(wide, self.batch_events):
                self._ready.append((next(self._ids), part))
            self._cond.notify_all()
        return int(wide.num_rows)

    def fetch(self, max_events: int, *, timeout: float = 0.0) -> Delivery:
        """Lease up to ``max_events`` events, waiting up to ``timeout`` seconds for some."""
        check_fetch_args(max_events, timeout)
        give_up = time.monotonic() + timeout
        with self._cond:
            while True:
                self._check_open()
                self._expire_leases()
                if self._ready:
                    return self._lease(max_events)
                remaining = give_up - time.monotonic()
                if remaining <= 0:
                    return Delivery(table=concat([]), token=None)
                # Wake now and then: a lease may expire while we wait.
                self._cond.wait(min(remaining, 0.05))

    def ack(self, delivery: Delivery) -> None:
        """Release a delivery for good; acking an expired or empty delivery does nothing."""
        with self._cond:
            if isinstance(delivery.token, int):
                self._leases.pop(delivery.token, None)

    def close(self) -> None:
        """Refuse further use; queued events are discarded with the bus."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def backlog(self) -> int | None:
        """Messages queued or leased and not yet acked."""
        with self._cond:
            return len(self._ready) + sum(len(lease.messages) for lease in self._leases.values())

    @property
    def pending(self) -> int:
        """Events queued or leased and not yet acked."""
        with self._cond:
            queued = sum(t.num_rows for _, t in self._ready)
            leased = sum(t.num_rows for lease in self._leases.values() for _, t in lease.messages)
            return int(queued + leased)

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidInputError("the bus is closed")

    def _lease(self, max_events: int) -> Delivery:
        ids, _ = pack(self._ready, max_events)
        messages = tuple(self._ready.popleft() for _ in ids)
        token = next(self._ids)
        deadline = self._clock.monotonic() + self.visibility_timeout
        self._leases[token] = _Lease(deadline=deadline, messages=messages)
        return Delivery(table=concat([t for _, t in messages]), token=token)

    def _expire_leases(self) -> None:
        now = self._clock.monotonic()
        expired = [token for token, lease in self._leases.items() if lease.deadline <= now]
        if not expired:
            return
        returning = [m for token in expired for m in self._leases.pop(token).messages]
        # Back to the front, oldest first, so redelivery keeps publish order.
        for message in sorted(returning, key=lambda m: m[0], reverse=True):
            self._ready.appendleft(message)
