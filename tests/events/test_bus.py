"""One suite for every bus backend, against the real Redis and NATS on this machine."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import redis

from tailguard.clock import FakeClock
from tailguard.errors import BackendUnavailableError, InvalidInputError
from tailguard.events import (
    Bus,
    DeadLetterSink,
    Deduplicator,
    MemoryBus,
    NatsJetStreamBus,
    RedisStreamsBus,
    open_bus,
    synthetic_events,
)

VISIBILITY = 1.0


@pytest.fixture(
    params=[
        "memory",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("nats", marks=pytest.mark.nats),
    ]
)
def bus_url(request: pytest.FixtureRequest, unique_prefix: str) -> Iterator[str]:
    """A bus URL for each backend, with a short visibility timeout; the stream is dropped."""
    kind = request.param
    if kind == "memory":
        yield f"memory://?visibility={VISIBILITY}&batch=100"
        return
    if kind == "redis":
        base = request.getfixturevalue("redis_url")
        url = f"{base}?stream={unique_prefix}&visibility={VISIBILITY}&batch=100"
    else:
        base = request.getfixturevalue("nats_url")
        url = f"{base}?stream={unique_prefix}&visibility={VISIBILITY}&batch=100"
    yield url
    cleaner = open_bus(url)
    assert isinstance(cleaner, RedisStreamsBus | NatsJetStreamBus)
    cleaner.drop()
    cleaner.close()


@pytest.fixture
def bus(bus_url: str) -> Iterator[Bus]:
    """An open bus of each backend."""
    opened = open_bus(bus_url)
    yield opened
    opened.close()


def _drain(bus: Bus, max_events: int = 10_000) -> pa.Table:
    tables = []
    while True:
        delivery = bus.fetch(max_events, timeout=0.2)
        if delivery.table.num_rows == 0:
            break
        tables.append(delivery.table)
        bus.ack(delivery)
    return pa.concat_tables(tables) if tables else synthetic_events(0)


def test_published_events_are_fetched_in_order_and_intact(bus: Bus) -> None:
    """Everything published comes back once, in order, equal to what was sent."""
    table = synthetic_events(750, seed=1, extra_every=3)
    assert isinstance(bus, Bus)
    assert bus.publish(table) == 750
    assert _drain(bus).equals(table)


def test_fetch_never_exceeds_max_events(bus: Bus) -> None:
    """A fetch holds at most max_events events when messages are no larger than that."""
    bus.publish(synthetic_events(1_000, seed=2))
    sizes = []
    while True:
        delivery = bus.fetch(250, timeout=0.2)
        if delivery.table.num_rows == 0:
            break
        sizes.append(delivery.table.num_rows)
        bus.ack(delivery)
    assert sizes == [200] * 5  # messages of 100 (batch=100); 250 fits two of them


def test_empty_bus_returns_empty_delivery_after_timeout(bus: Bus) -> None:
    """Fetching from an empty bus waits about the timeout and returns no events."""
    start = time.monotonic()
    delivery = bus.fetch(10, timeout=0.3)
    assert delivery.table.num_rows == 0
    assert time.monotonic() - start >= 0.25
    bus.ack(delivery)


def test_unacked_delivery_is_redelivered_after_visibility_timeout(bus: Bus) -> None:
    """A delivery that is never acked comes back after the visibility timeout."""
    table = synthetic_events(100, seed=3)
    bus.publish(table)
    lost = bus.fetch(1_000, timeout=0.5)
    assert lost.table.equals(table)
    assert bus.fetch(1_000, timeout=0.1).table.num_rows == 0
    time.sleep(VISIBILITY + 0.3)
    again = bus.fetch(1_000, timeout=1.0)
    assert again.table.equals(table)
    bus.ack(again)
    time.sleep(VISIBILITY + 0.3)
    assert bus.fetch(1_000, timeout=0.2).table.num_rows == 0


def test_competing_consumers_share_the_stream_without_loss(bus_url: str) -> None:
    """Two consumers of one group together see every event, each once when all ack."""
    table = synthetic_events(2_000, seed=4)
    producer = open_bus(bus_url) if not bus_url.startswith("memory") else None
    shared = (
        MemoryBus(visibility_timeout=VISIBILITY, batch_events=100) if producer is None else None
    )
    consumers = [shared, shared] if shared else [open_bus(bus_url), open_bus(bus_url)]
    (producer or shared).publish(table)  # type: ignore[union-attr]
    seen: list[pa.Table] = []
    lock = threading.Lock()

    def consume(consumer: Bus) -> None:
        while True:
            delivery = consumer.fetch(300, timeout=0.3)
            if delivery.table.num_rows == 0:
                return
            with lock:
                seen.append(delivery.table)
            consumer.ack(delivery)

    threads = [threading.Thread(target=consume, args=(c,)) for c in consumers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    ids = pa.concat_tables(seen).column("event_id").to_pylist()
    assert sorted(ids) == sorted(table.column("event_id").to_pylist())
    for closeable in {id(c): c for c in [*consumers, producer] if c is not None}.values():
        closeable.close()


def test_deduplicator_absorbs_redelivery(bus: Bus) -> None:
    """At-least-once delivery plus a Deduplicator counts each event once."""
    table = synthetic_events(300, seed=5)
    bus.publish(table)
    bus.fetch(1_000, timeout=0.5)  # lost: never acked
    time.sleep(VISIBILITY + 0.3)
    bus.publish(table.slice(0, 100))  # a producer retry sends duplicates too
    dedup = Deduplicator()
    kept = dedup(_drain(bus))
    assert sorted(kept.column("event_id").to_pylist()) == sorted(
        table.column("event_id").to_pylist()
    )
    assert dedup.duplicates == 100


def test_publish_refuses_tables_outside_the_wide_schema(bus: Bus) -> None:
    """Publishing a table that is not in the wide schema raises a clear error."""
    with pytest.raises(InvalidInputError, match="wide event schema"):
        bus.publish(pa.table({"event_id": ["x"]}))


def test_memory_bus_redelivery_follows_the_injected_clock() -> None:
    """With a FakeClock, a lease expires exactly when the clock passes the timeout."""
    clock = FakeClock()
    bus = MemoryBus(visibility_timeout=10, clock=clock)
    bus.publish(synthetic_events(5, seed=6))
    first = bus.fetch(10)
    clock.advance(9.9)
    assert bus.fetch(10).table.num_rows == 0
    clock.advance(0.2)
    again = bus.fetch(10)
    assert again.table.equals(first.table)
    bus.ack(first)  # a stale ack of the expired lease changes nothing
    bus.ack(again)
    assert bus.pending == 0


@pytest.mark.redis
def test_undecodable_redis_entry_goes_to_dead_letter(
    redis_url: str, unique_prefix: str, tmp_path: Path
) -> None:
    """A foreign entry on the stream is set aside in the dead letter and acked."""
    sink = DeadLetterSink(tmp_path / "dead.jsonl")
    bus = RedisStreamsBus(redis_url, stream=unique_prefix, dead_letter=sink)
    try:
        redis.Redis.from_url(redis_url).xadd(unique_prefix, {"ipc": b"garbage"})
        bus.publish(synthetic_events(10, seed=7))
        assert _drain(bus).num_rows == 10
        assert sink.count == 1
    finally:
        sink.close()
        bus.drop()
        bus.close()


def test_open_bus_rejects_bad_urls_and_unreachable_servers() -> None:
    """Unknown schemes, missing stream names and dead servers give clear errors."""
    with pytest.raises(InvalidInputError, match="scheme"):
        open_bus("kafka://x")
    with pytest.raises(InvalidInputError, match="stream"):
        open_bus("redis://127.0.0.1:6379/0")
    with pytest.raises(InvalidInputError, match="not a number"):
        open_bus("memory://?visibility=soon")
    with pytest.raises(BackendUnavailableError):
        open_bus("redis://127.0.0.1:1/0?stream=x")
    with pytest.raises(BackendUnavailableError):
        open_bus("nats://127.0.0.1:1?stream=x")
