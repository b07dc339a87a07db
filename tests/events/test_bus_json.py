"""JSON on the real buses: tailguard's own JSON messages, other producers' messages, idle
streams and backlog counts, against the Redis and NATS JetStream on this machine."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pyarrow as pa
import pytest
import redis

from tailguard.events import (
    Bus,
    DeadLetterSink,
    NatsJetStreamBus,
    RedisStreamsBus,
    open_bus,
    synthetic_events,
)

from ._helpers import event


def _drain(bus: Bus) -> pa.Table:
    tables = []
    while True:
        delivery = bus.fetch(10_000, timeout=0.3)
        if delivery.table.num_rows == 0:
            break
        tables.append(delivery.table)
        bus.ack(delivery)
    return pa.concat_tables(tables) if tables else synthetic_events(0)


@pytest.fixture(params=[pytest.param("redis"), pytest.param("nats")])
def server_url(request: pytest.FixtureRequest, unique_prefix: str) -> Iterator[str]:
    """A Redis or NATS bus URL on a fresh stream, dropped after the test."""
    base = request.getfixturevalue(f"{request.param}_url")
    url = f"{base}?stream={unique_prefix}&visibility=2&batch=100"
    yield url
    cleaner = open_bus(url)
    assert isinstance(cleaner, RedisStreamsBus | NatsJetStreamBus)
    cleaner.drop()
    cleaner.close()


def _raw_publish(url: str, stream: str, body: bytes, content_type: str | None) -> None:
    """Put one message on the bus as a producer that is not tailguard would."""
    if url.startswith("redis"):
        fields: dict[str, Any] = {"data": body}
        if content_type:
            fields["content-type"] = content_type
        client = redis.Redis.from_url(url.split("?")[0])
        client.xadd(stream, fields)
        client.close()
        return

    async def go() -> None:
        nc = await nats.connect(url.split("?")[0])
        js = nc.jetstream()
        headers = {"Content-Type": content_type} if content_type else None
        await js.publish(f"{stream}.events", body, stream=stream, headers=headers)
        await nc.close()

    asyncio.run(go())


def test_json_published_events_arrive_intact(server_url: str) -> None:
    """Events published with format=json come out of a default consumer as they went in."""
    sent = synthetic_events(250, seed=3, extra_every=7)
    producer = open_bus(server_url, format="json")
    consumer = open_bus(server_url)
    try:
        assert producer.publish(sent) == 250
        got = _drain(consumer)
    finally:
        producer.close()
        consumer.close()
    assert got.to_pylist() == sent.to_pylist()


@pytest.mark.parametrize(
    ("content_type", "shape"),
    [
        ("application/json", "array"),
        ("application/json; charset=utf-8", "object"),
        (None, "array"),
        (None, "object"),
        ("application/x-ndjson", "lines"),
    ],
)
def test_foreign_json_messages_are_read_by_content_type_or_by_sniffing(
    server_url: str, unique_prefix: str, tmp_path: Path, content_type: str | None, shape: str
) -> None:
    """One event, an array of events or JSON Lines, with or without a content type, are read."""
    events = [event("cx.survey", f"E-{i}", nps=i) for i in range(3)]
    if shape == "array":
        bodies = [json.dumps(events)]
    elif shape == "object":
        bodies = [json.dumps(e) for e in events]
    else:
        bodies = ["\n".join(json.dumps(e) for e in events) + "\n"]
    sink = DeadLetterSink(tmp_path / "dead.jsonl")
    consumer = open_bus(server_url, dead_letter=sink)
    try:
        for body in bodies:
            _raw_publish(server_url, unique_prefix, body.encode(), content_type)
        got = _drain(consumer)
    finally:
        consumer.close()
        sink.close()
    assert got.column("event_id").to_pylist() == ["E-0", "E-1", "E-2"]
    assert got.column("nps").to_pylist() == [0, 1, 2]
    assert sink.count == 0


def test_bad_events_in_a_json_message_go_to_the_dead_letter_with_their_item(
    server_url: str, unique_prefix: str, tmp_path: Path
) -> None:
    """An invalid event is set aside naming its place in the message; the others proceed."""
    items = [event("cx.survey", "E-0"), event("cx.survey", "E-1", nps=11), 42]
    sink = DeadLetterSink(tmp_path / "dead.jsonl")
    consumer = open_bus(server_url, dead_letter=sink)
    try:
        _raw_publish(server_url, unique_prefix, json.dumps(items).encode(), "application/json")
        got = _drain(consumer)
    finally:
        consumer.close()
        sink.close()
    assert got.column("event_id").to_pylist() == ["E-0"]
    letters = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    reasons = sorted(letter["reason"] for letter in letters)
    assert len(reasons) == 2
    assert reasons[0].startswith("item 2: ")
    assert "nps" in reasons[0]
    assert reasons[1] == "item 3: expected a JSON object, got integer"
    assert all(unique_prefix in letter["source"] for letter in letters)


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b'{"event_id": "E-1", ', "application/json", "not JSON"),
        (b"\xff\xfe garbage", None, "not UTF-8"),
        (b'"just a string"', None, "JSON string"),
        (b"<event/>", "application/xml", "unsupported content type"),
        (b"[]", "application/vnd.apache.arrow.stream", "Arrow IPC"),
    ],
)
def test_malformed_messages_go_to_the_dead_letter_with_the_reason(
    server_url: str,
    unique_prefix: str,
    tmp_path: Path,
    body: bytes,
    content_type: str | None,
    reason: str,
) -> None:
    """A message that cannot be read at all is one dead letter, acked, with why."""
    sink = DeadLetterSink(tmp_path / "dead.jsonl")
    consumer = open_bus(server_url, dead_letter=sink)
    try:
        _raw_publish(server_url, unique_prefix, body, content_type)
        _raw_publish(server_url, unique_prefix, json.dumps(event("cx.chat")).encode(), None)
        got = _drain(consumer)
        again = _drain(consumer)
    finally:
        consumer.close()
        sink.close()
    assert got.num_rows == 1
    assert again.num_rows == 0
    [letter] = [json.loads(line) for line in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert reason in letter["reason"]


def test_the_format_setting_decides_for_messages_without_a_content_type(
    server_url: str, unique_prefix: str, tmp_path: Path
) -> None:
    """format=arrow refuses a JSON message that has no content type; auto reads it."""
    body = json.dumps(event("cx.chat")).encode()
    sink = DeadLetterSink(tmp_path / "dead.jsonl")
    strict = open_bus(server_url, dead_letter=sink, format="arrow")
    try:
        _raw_publish(server_url, unique_prefix, body, None)
        assert _drain(strict).num_rows == 0
        assert sink.count == 1
        _raw_publish(server_url, unique_prefix, body, "application/json")
        assert _drain(strict).num_rows == 1  # the content type wins over the setting
    finally:
        strict.close()
        sink.close()


def test_backlog_counts_the_messages_left_to_read(server_url: str) -> None:
    """backlog() is the messages published and not yet acked by the group."""
    bus = open_bus(server_url)
    try:
        bus.publish(synthetic_events(250, seed=1))  # three messages of at most 100
        assert bus.backlog() == 3
        _drain(bus)
        assert bus.backlog() == 0
    finally:
        bus.close()


def test_redis_fetch_outwaits_the_socket_timeout_on_an_idle_stream(
    redis_url: str, unique_prefix: str
) -> None:
    """A wait longer than the socket timeout on an idle stream returns empty, then delivers.

    This is `agents run --bus redis://...` in follow mode between events: the poll used to
    equal the client's socket timeout and crash with redis.exceptions.TimeoutError.
    """
    bus = open_bus(f"{redis_url}?stream={unique_prefix}&socket_timeout=1")
    try:
        started = time.monotonic()
        idle = bus.fetch(100, timeout=2.5)
        assert idle.table.num_rows == 0
        assert time.monotonic() - started >= 2.4
        late = threading.Timer(
            1.6,
            lambda: open_bus(f"{redis_url}?stream={unique_prefix}").publish(synthetic_events(5)),
        )
        late.start()
        started = time.monotonic()
        delivered = bus.fetch(100, timeout=4.0)
        late.join()
        assert delivered.table.num_rows == 5
        assert 1.5 <= time.monotonic() - started < 4.0
    finally:
        assert isinstance(bus, RedisStreamsBus)
        bus.drop()
        bus.close()


@pytest.mark.slow
def test_redis_default_settings_survive_a_poll_longer_than_redis_py_socket_timeout(
    redis_url: str, unique_prefix: str
) -> None:
    """With the default URL, an idle wait of 6 s (past redis-py's 5 s default) is no error."""
    bus = open_bus(f"{redis_url}?stream={unique_prefix}")
    try:
        started = time.monotonic()
        assert bus.fetch(100, timeout=6.0).table.num_rows == 0
        assert time.monotonic() - started >= 5.9
    finally:
        assert isinstance(bus, RedisStreamsBus)
        bus.drop()
        bus.close()


def test_events_publish_sends_a_file_as_json_and_sets_bad_lines_aside(
    server_url: str, unique_prefix: str, tmp_path: Path
) -> None:
    """`tailguard events publish FILE --bus URL` publishes the valid events as JSON messages."""
    lines = [json.dumps(event("cx.survey", f"E-{i}")) for i in range(150)]
    lines.insert(7, json.dumps(event("cx.survey", "E-bad", nps=12)))
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tailguard",
            "events",
            "publish",
            str(src),
            "--bus",
            server_url,
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["published"] == 150
    assert out["format"] == "json"
    assert out["dead_letter"]["count"] == 1
    assert "line 8" in (tmp_path / "in.jsonl.deadletter.jsonl").read_text()
    if server_url.startswith("redis"):
        entry = redis.Redis.from_url(server_url.split("?")[0]).xrange(unique_prefix, count=1)
        fields = entry[0][1]
        assert fields[b"content-type"] == b"application/json"
        assert json.loads(fields[b"data"])[0]["event_id"] == "E-0"
    consumer = open_bus(server_url)
    try:
        got = _drain(consumer)
    finally:
        consumer.close()
    assert got.column("event_id").to_pylist() == [f"E-{i}" for i in range(150)]
