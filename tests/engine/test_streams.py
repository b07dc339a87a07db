"""Partitioned ingest: each shard reads its own stream, and a shard killed mid-hour rebuilds
its areas' state from that stream without losing or double-counting an event."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tailguard.engine import ShardedScorecards, open_engine
from tailguard.engine.shards import ProcessShard
from tailguard.engine.streams import ShardStreams, shard_bus_url
from tailguard.errors import InvalidInputError
from tailguard.events.bus import NatsJetStreamBus, RedisStreamsBus, open_bus
from tailguard.metrics import ScorecardEngine
from tailguard.sim import NetworkConfig, Simulator

UNITS = ("tech", "zip", "sku")


@pytest.fixture(params=["nats", pytest.param("redis", marks=pytest.mark.redis)])
def bus_url(request: pytest.FixtureRequest, unique_prefix: str) -> Iterator[str]:
    """A deployment bus URL on NATS JetStream or Redis (a one-second visibility timeout, so a
    delivery a dead shard held comes back within the test); the streams are dropped after."""
    if request.param == "nats":
        base = request.getfixturevalue("nats_url")
    else:
        base = request.getfixturevalue("redis_url")
    url = f"{base}?stream={unique_prefix}&visibility=1&batch=200"
    yield url
    streams = ShardStreams(url, 2)
    try:
        streams.drop()
    finally:
        streams.close()


def test_each_shard_has_its_own_stream_subject_and_consumer() -> None:
    """NATS: stream <s>-<i>, subject <s>.events.<i>, durable shard-<i>; Redis: stream <s>.<i>."""
    nats = parse_qs(urlsplit(shard_bus_url("nats://h:4222?stream=tailguard&batch=5", 3)).query)
    assert nats["stream"] == ["tailguard-3"]
    assert nats["subject"] == ["tailguard.events.3"]
    assert nats["durable"] == ["shard-3"]
    assert nats["batch"] == ["5"]
    assert nats["max_age"] == [str(8 * 86_400)]  # the window and a day, unless the URL says
    redis = parse_qs(urlsplit(shard_bus_url("redis://h:6379/0?stream=tg&group=g", 1)).query)
    assert redis["stream"] == ["tg.1"]
    assert redis["group"] == ["g"]


@pytest.mark.parametrize(
    "url", ["memory://", "http://h/?stream=x", "nats://h:4222", "redis://h:6379/0?stream="]
)
def test_a_bus_a_shard_cannot_reach_or_without_a_stream_is_refused(url: str) -> None:
    """An in-process bus, another scheme, or no stream name: a clear error."""
    with pytest.raises(InvalidInputError):
        shard_bus_url(url, 0)
    with pytest.raises(InvalidInputError):
        open_engine("local", shards=2, bus=url)


@given(
    stream=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20),
    shard=st.integers(min_value=0, max_value=255),
    scheme=st.sampled_from(["nats", "redis"]),
)
def test_any_stream_name_and_shard_give_a_distinct_stream(
    stream: str, shard: int, scheme: str
) -> None:
    """Property: the shard's URL keeps the server and names a stream of its own."""
    base = f"{scheme}://127.0.0.1:1/?stream={stream}"
    url = shard_bus_url(base, shard)
    parts = urlsplit(url)
    assert parts.netloc == "127.0.0.1:1"
    named = parse_qs(parts.query)["stream"][0]
    assert named != stream
    assert named.startswith(stream)
    assert named.endswith(str(shard))
    other = parse_qs(urlsplit(shard_bus_url(base, shard + 1)).query)["stream"][0]
    assert other != named


def test_a_jetstream_shard_stream_keeps_its_messages_for_the_window_and_a_day(
    nats_url: str, unique_prefix: str
) -> None:
    """The engine's shard stream is created with max_age = 8 days (Redis streams are trimmed
    by their operator)."""
    bus = open_bus(shard_bus_url(f"{nats_url}?stream={unique_prefix}", 0))
    assert isinstance(bus, NatsJetStreamBus)
    try:
        info = bus._run(bus._js.stream_info(bus.stream))
        assert info.config.max_age == 8 * 86_400
    finally:
        bus.drop()
        bus.close()


def test_a_replay_reads_every_held_message_and_leaves_the_consumer_alone(bus_url: str) -> None:
    """Three batches, one taken and acked: the replay still gives all three, in order, and
    the consumer still has the other two to take."""
    url = shard_bus_url(bus_url, 0)
    bus = open_bus(url)
    assert isinstance(bus, NatsJetStreamBus | RedisStreamsBus)
    sim = Simulator(NetworkConfig(areas=4, seed=3))
    day = pa.concat_tables([sim.step() for _ in range(24)])
    assert day.num_rows >= 450
    batches = [day.slice(150 * i, 150) for i in range(3)]
    try:
        for batch in batches:
            bus.publish(batch)
        first = bus.fetch(150)
        assert first.table.num_rows == 150
        bus.ack(first)
        replayed = list(bus.replay())
        assert [t.num_rows for t in replayed] == [150, 150, 150]
        ids = pa.concat_tables(replayed).column("event_id").to_pylist()
        assert ids == pa.concat_tables(batches).column("event_id").to_pylist()
        rest = bus.fetch(1_000, timeout=1.0)
        assert rest.table.num_rows == 300
        bus.ack(rest)
    finally:
        bus.close()


def _equal(one: ScorecardEngine, state: ShardedScorecards, now: object) -> None:
    assert_frame_equal(one.scorecard(now), state.scorecard(now))  # type: ignore[arg-type]
    for unit in UNITS:
        assert_frame_equal(one.units(now, unit), state.units(now, unit))  # type: ignore[arg-type]


def test_a_shard_killed_mid_hour_rebuilds_from_its_stream(bus_url: str) -> None:
    """Two worker processes read their own streams. Mid-hour, shard 1's process is killed
    while a delivery it had taken is still unacked (its events ingested or not), and half the
    hour waits on its stream. Its replacement replays the stream: every answer equals one
    engine's that saw each event once, before and after, and the events seen twice were
    counted once."""
    engine = open_engine("local", shards=2, bus=bus_url)
    try:
        state = engine.scorecards(prefetch=UNITS)
        assert isinstance(state, ShardedScorecards)
        assert state.streams is not None
        sim = Simulator(NetworkConfig(areas=8, seed=5))
        one = ScorecardEngine()
        for h in range(36):
            events = sim.step()
            if h != 20:
                assert one.ingest(events) == state.ingest(events)
                if h % 12 == 11:
                    _equal(one, state, sim.now)
                continue
            one.ingest(events)
            half = events.num_rows // 2
            state.ingest(events.slice(0, half))  # taken and acked by both shards
            published = state.streams.publish(events.slice(half))  # waiting on the streams
            assert published[1] > 0
            thief = open_bus(state.streams.urls[1])  # the dying shard's consumer: takes a
            held = thief.fetch(100)  # delivery and never acks it
            assert held.table.num_rows > 0
            victim = state.shards[1]
            assert isinstance(victim, ProcessShard)
            victim.kill()
            replayed = state.restart(1)
            thief.close()
            assert replayed > 0
            state.call_all("pump")
            _equal(one, state, sim.now)
        _equal(one, state, sim.now)
        assert_frame_equal(one.areas().to_frame(), state.areas().to_frame())
        counts = state.window(sim.now).counts.sort("area_id")
        assert_frame_equal(one.window(sim.now).counts.sort("area_id"), counts)
    finally:
        engine.close()


@pytest.mark.usefixtures("local_ray")
def test_a_lost_ray_actor_is_replaced_and_rebuilt_from_its_stream(
    nats_url: str, unique_prefix: str
) -> None:
    """The Ray engine over NATS: an actor killed between hours is replaced; the new actor
    rebuilds its areas from its stream and answers as one engine."""
    import ray

    url = f"{nats_url}?stream={unique_prefix}&visibility=1&batch=200"
    engine = open_engine("ray", shards=2, bus=url)
    try:
        state = engine.scorecards()
        assert isinstance(state, ShardedScorecards)
        sim = Simulator(NetworkConfig(areas=6, seed=9))
        one = ScorecardEngine()
        for h in range(30):
            events = sim.step()
            assert one.ingest(events) == state.ingest(events)
            if h == 17:
                ray.kill(state.shards[0].actor)  # type: ignore[attr-defined]
                assert state.restart(0) > 0
                _equal(one, state, sim.now)
        _equal(one, state, sim.now)
    finally:
        engine.close()
        streams = ShardStreams(url, 2)
        streams.drop()
        streams.close()


def test_a_state_without_streams_cannot_restart_a_shard() -> None:
    """Handing events over directly keeps no copy to rebuild from: restart is refused."""
    engine = open_engine("local", shards=2)
    try:
        state = engine.scorecards()
        assert isinstance(state, ShardedScorecards)
        with pytest.raises(ValueError, match="per-shard streams"):
            state.restart(0)
    finally:
        engine.close()
