"""Partitioned ingest: each shard reads its own areas' events from a stream of its own.

With a bus URL, a sharded engine stops handing events to its shards itself: the coordinator
(or any producer) publishes each area's events on the stream of the shard that owns the area
(:func:`shard_bus_url`), and each shard, in its own process or Ray actor, consumes that stream
with a durable consumer and acks a delivery only after its events are in its state.

* **NATS JetStream**: one stream per shard, ``<stream>-<shard>``, on the subject
  ``<stream>.events.<shard>`` (``tailguard.events.<shard>`` for the default stream name), with a
  durable consumer ``shard-<shard>``.
* **Redis Streams**: one stream per shard, ``<stream>.<shard>``, read by the consumer group of
  the URL.

Delivery is at least once: a delivery not acked within the visibility timeout (a shard that
died holding it) is delivered again. An event is counted once all the same, because the
scorecard state keeps the ids of the events of each hour of its window and counts an id once
per hour (:class:`~tailguard.metrics.ScorecardEngine`).

**A shard that restarts** (its process killed, its actor lost) rebuilds its state from its
stream alone, not from a checkpoint: it replays every message the stream still holds (read by
sequence, outside the consumer group, so nothing is acked or claimed), then goes on with its
durable consumer, whose unacked and undelivered messages overlap the replay and are counted
once by the same per-hour ids. The streams must therefore keep at least the scorecard window
and a day (8 days for the default window): a JetStream shard stream the engine creates keeps
its messages that long (``max_age``, :data:`RETAIN_SECONDS`; ``&max_age=S`` in the URL for
another window); a Redis stream is trimmed by its operator (``XTRIM ... MINID``), never
to less than that. Why no checkpoint: the stream already holds
exactly the window the state is made of, its replay is cheap (a 40-area week, 400,000 events,
rebuilds in about 4 s: 1.1-2x ingesting the same events from memory, ``bench/bench_streams.py``),
and a checkpoint would be a second copy that can disagree with it.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import polars as pl
import pyarrow as pa

from tailguard.engine.partition import AreaRouter
from tailguard.errors import InvalidInputError
from tailguard.events.bus import Bus, NatsJetStreamBus, RedisStreamsBus, open_bus
from tailguard.metrics import ScorecardEngine

__all__ = ["ShardStreams", "StreamFeed", "shard_bus_url"]

#: Events a shard takes from its stream at a time.
PUMP_EVENTS = 20_000
#: Seconds a pump waits for messages the server says are there.
PUMP_WAIT = 0.5
#: How long a JetStream shard stream keeps its messages when the engine creates it: the
#: default scorecard window and a day (a rebuilt shard needs its whole window).
RETAIN_SECONDS = 8 * 86_400


def shard_bus_url(url: str, shard: int) -> str:
    """The bus URL of shard ``shard``'s own stream, from the deployment's bus URL.

    Raises:
        InvalidInputError: not a NATS or Redis URL (an in-process bus cannot reach a shard in
            another process), or no ``stream``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("nats", "tls", "redis", "rediss"):
        raise InvalidInputError(
            f"partitioned ingest needs a nats:// or redis:// bus (a shard in another process "
            f"cannot read an in-process one), got {url!r}"
        )
    params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    stream = params.get("stream")
    if not stream:
        raise InvalidInputError(f"bus URL {url!r} needs ?stream=NAME")
    if scheme in ("nats", "tls"):
        params.update(
            stream=f"{stream}-{shard}",
            subject=f"{stream}.events.{shard}",
            durable=f"shard-{shard}",
        )
        params.setdefault("max_age", str(RETAIN_SECONDS))
    else:
        params["stream"] = f"{stream}.{shard}"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))


class ShardStreams:
    """The producer's side: each area's events published on its shard's stream.

    Args:
        url: the deployment's bus URL (``nats://...?stream=tailguard`` or
            ``redis://...?stream=tailguard``).
        shards: how many shards own the areas.
    """

    def __init__(self, url: str, shards: int) -> None:
        self.url = url
        self.router = AreaRouter(shards)
        self.urls = [shard_bus_url(url, i) for i in range(shards)]
        self._buses: dict[int, Bus] = {}

    def bus(self, shard: int) -> Bus:
        """The (lazily opened) publisher connection to shard ``shard``'s stream."""
        if shard not in self._buses:
            self._buses[shard] = open_bus(self.urls[shard])
        return self._buses[shard]

    def publish(self, events: pa.Table | pl.DataFrame) -> dict[int, int]:
        """Publish each area's events on its shard's stream (in their order); events per
        shard."""
        frame = events if isinstance(events, pl.DataFrame) else pl.from_arrow(events)
        assert isinstance(frame, pl.DataFrame)
        return {
            shard: self.bus(shard).publish(part.to_arrow())
            for shard, part in sorted(self.router.split(frame).items())
        }

    def drop(self) -> None:
        """Delete every shard's stream from the server (teardown, tests)."""
        for shard in range(self.router.shards):
            bus = self.bus(shard)
            if isinstance(bus, NatsJetStreamBus | RedisStreamsBus):
                bus.drop()

    def close(self) -> None:
        """Close the publisher connections."""
        for bus in self._buses.values():
            bus.close()
        self._buses.clear()


class StreamFeed:
    """The shard's side: its stream, read into its state (in the shard's process).

    Args:
        url: the shard's own bus URL (:func:`shard_bus_url`).
        state: the shard's scorecard state.
    """

    def __init__(self, url: str, state: ScorecardEngine) -> None:
        self.state = state
        bus = open_bus(url)
        if not isinstance(bus, NatsJetStreamBus | RedisStreamsBus):
            bus.close()
            raise InvalidInputError(f"partitioned ingest needs NATS or Redis, got {url!r}")
        self.bus: NatsJetStreamBus | RedisStreamsBus = bus

    def rebuild(self) -> int:
        """Replay every message the stream holds into the state; the events counted (an
        event already in the state is not counted again)."""
        return sum(self.state.ingest(table) for table in self.bus.replay())

    def pump(self, *, max_events: int = PUMP_EVENTS) -> int:
        """Take every delivery waiting for the shard's consumer, ingest it, then ack it;
        returns the events counted. A delivery is acked only once its events are in the state,
        so a shard that dies in between gets it again (and counts it once). An empty fetch
        ends the pump only when the server says nothing is left to hand over and nothing is
        out unacked: a pull can come back empty before the server has answered it, and on a
        loaded machine a pull can time out with its messages already handed over (they reach
        the next pull, or come back after the visibility timeout), so the pump waits for them
        rather than leaving them to a later hour."""
        counted = 0
        while True:
            delivery = self.bus.fetch(max_events)
            if delivery.table.num_rows == 0:
                left = self.bus.backlog()
                if left is None:  # the server cannot tell what is out unacked (Redis < 7)
                    left = self.bus.waiting()
                if not left:
                    return counted
                delivery = self.bus.fetch(max_events, timeout=PUMP_WAIT)
                if delivery.table.num_rows == 0:
                    continue
            counted += self.state.ingest(delivery.table)
            self.bus.ack(delivery)

    def close(self) -> None:
        """Close the shard's connection to its stream."""
        self.bus.close()
