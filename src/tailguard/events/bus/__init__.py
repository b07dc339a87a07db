"""Event buses: the :class:`Bus` interface, its backends, and :func:`open_bus` by URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit, urlunsplit

from tailguard.errors import InvalidInputError
from tailguard.events.bus.base import Bus, Delivery
from tailguard.events.bus.memory import MemoryBus
from tailguard.events.bus.nats_jetstream import NatsJetStreamBus
from tailguard.events.bus.redis_streams import RedisStreamsBus
from tailguard.events.bus.wire import WireFormat
from tailguard.events.bus.wire import parse_format as _parse_format
from tailguard.events.deadletter import DeadLetterSink

__all__ = [
    "Bus",
    "Delivery",
    "MemoryBus",
    "NatsJetStreamBus",
    "RedisStreamsBus",
    "WireFormat",
    "open_bus",
]


def _number(params: dict[str, str], name: str, default: float) -> float:
    if name not in params:
        return default
    try:
        value = float(params[name])
    except ValueError:
        raise InvalidInputError(f"bus URL: {name}={params[name]!r} is not a number") from None
    if value <= 0:
        raise InvalidInputError(f"bus URL: {name} must be positive")
    return value


def open_bus(
    url: str, *, dead_letter: DeadLetterSink | None = None, format: str | None = None
) -> Bus:
    """Open the bus a URL names; each call returns a new, independent connection.

    * ``memory://[?visibility=S&batch=N]`` - a new in-process :class:`MemoryBus`;
    * ``redis://host:port/db?stream=NAME[&group=G&consumer=C&visibility=S&batch=N``
      ``&format=F&socket_timeout=S]``;
    * ``nats://host:port?stream=NAME[&subject=S&durable=D&visibility=S&batch=N&format=F``
      ``&max_age=S]`` (``max_age``: seconds a message is kept, set when the bus creates the
      stream).

    ``format`` (``auto``, ``arrow``, ``json``; the keyword wins over the URL) is what the bus
    publishes and how it reads a message that carries no content type (:mod:`.wire`).

    Raises:
        InvalidInputError: unknown scheme, missing ``stream``, bad parameter.
        BackendUnavailableError: the server cannot be reached.
    """
    parts = urlsplit(url)
    raw = parse_qs(parts.query, keep_blank_values=True)
    params = {key: values[-1] for key, values in raw.items()}
    visibility = _number(params, "visibility", 30.0)
    batch = int(_number(params, "batch", 1000))
    wire = _parse_format(format or params.get("format") or "auto")
    scheme = parts.scheme.lower()
    if scheme == "memory":
        return MemoryBus(visibility_timeout=visibility, batch_events=batch)
    if scheme not in ("redis", "rediss", "nats", "tls"):
        raise InvalidInputError(f"bus URL {url!r}: scheme must be memory, redis or nats")
    stream = params.get("stream")
    if not stream:
        raise InvalidInputError(f"bus URL {url!r} needs ?stream=NAME")
    server = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    if scheme in ("redis", "rediss"):
        return RedisStreamsBus(
            server,
            stream=stream,
            group=params.get("group") or "tailguard",
            consumer=params.get("consumer") or None,
            visibility_timeout=visibility,
            batch_events=batch,
            dead_letter=dead_letter,
            format=wire,
            socket_timeout=_number(params, "socket_timeout", 10.0),
        )
    return NatsJetStreamBus(
        server,
        stream=stream,
        subject=params.get("subject") or None,
        durable=params.get("durable") or "tailguard",
        visibility_timeout=visibility,
        batch_events=batch,
        dead_letter=dead_letter,
        format=wire,
        max_age=_number(params, "max_age", 1.0) if "max_age" in params else None,
    )
