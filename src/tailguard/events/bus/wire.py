"""What one bus message may hold: tailguard's Arrow IPC, or JSON as other producers write it.

A message is decoded by its content type when the transport carries one (a NATS header
``Content-Type``, a Redis entry field ``content-type``), else by the bus's ``format`` setting,
else (``auto``, the default) by its first byte: an Arrow IPC stream starts with the
continuation marker ``0xFFFFFFFF``, JSON with ``{`` or ``[``.

* Arrow IPC (``application/vnd.apache.arrow.stream``): one stream in the wide schema, as
  :func:`~tailguard.events.bus.base.encode` writes it (zstd-compressed or not);
* JSON (``application/json``): one event object, or an array of event objects;
* JSON Lines (``application/x-ndjson`` or ``application/jsonl``, by content type only): one
  event object per line.

JSON events are validated as event files are (INTERFACES.md section 1): a bad event goes to the
dead letter with its reason and its place in the message (``item 3: nps 11 out of range
0-10``), and the rest of the message proceeds. A message that cannot be read at all (not
UTF-8, not JSON, an unknown content type) raises :class:`~tailguard.errors.InvalidInputError`,
which the bus turns into one dead letter for the whole message.
"""

from __future__ import annotations

import enum
import json
from typing import Any, Final

import pyarrow as pa

from tailguard.errors import InvalidInputError
from tailguard.events.bus.base import decode, encode
from tailguard.events.deadletter import DeadLetterSink
from tailguard.events.jsonl import encode_jsonl
from tailguard.events.validate import Rejects, check_records, json_type

ARROW_CONTENT_TYPE: Final = "application/vnd.apache.arrow.stream"
JSON_CONTENT_TYPE: Final = "application/json"
_NDJSON_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/jsonl", "application/jsonlines"}
)
_ARROW_TYPES: Final = frozenset({ARROW_CONTENT_TYPE, "application/vnd.apache.arrow.file"})
#: The first bytes of an Arrow IPC stream (the continuation marker of its first message).
_ARROW_MAGIC: Final = b"\xff\xff\xff\xff"


class WireFormat(enum.StrEnum):
    """How a bus encodes what it publishes, and how it reads a message without a content type."""

    auto = "auto"
    arrow = "arrow"
    json = "json"


def parse_format(text: str) -> WireFormat:
    """A ``format`` setting (``auto``, ``arrow``, ``json``), or a clear error."""
    try:
        return WireFormat(text.strip().lower())
    except ValueError:
        raise InvalidInputError(f"bus format {text!r}: use auto, arrow or json") from None


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def encode_message(table: pa.Table, fmt: WireFormat) -> tuple[bytes, str]:
    """One message of a wide table in ``fmt`` (``auto`` publishes Arrow), with its content type.

    JSON is an array of event objects with the fields INTERFACES.md names (timestamps RFC 3339
    UTC), extra fields spliced back in: the same objects ``tailguard simulate`` writes.
    """
    if fmt is WireFormat.json:
        lines = encode_jsonl(table).splitlines()
        return b"[" + b",".join(lines) + b"]", JSON_CONTENT_TYPE
    return encode(table), ARROW_CONTENT_TYPE


def decode_message(
    data: bytes,
    *,
    content_type: str | None,
    setting: WireFormat,
    dead_letter: DeadLetterSink | None,
    source: str,
) -> pa.Table:
    """The valid events of one message as a wide table.

    Args:
        data: the message body.
        content_type: the transport's content type, if it carries one.
        setting: the bus's format for messages without a content type.
        dead_letter: where bad JSON events go; without one, a bad event raises.
        source: names the message in dead letters (bus, stream, message id).

    Raises:
        InvalidInputError: the message as a whole cannot be read.
    """
    if content_type:
        media = _media_type(content_type)
        if media in _ARROW_TYPES:
            return decode(data)
        if media in _NDJSON_TYPES:
            return _json_lines(data, dead_letter=dead_letter, source=source)
        if media == JSON_CONTENT_TYPE or media.endswith("+json"):
            return decode_json(data, dead_letter=dead_letter, source=source)
        raise InvalidInputError(
            f"unsupported content type {content_type!r} "
            f"(use {JSON_CONTENT_TYPE}, application/x-ndjson or {ARROW_CONTENT_TYPE})"
        )
    fmt = setting if setting is not WireFormat.auto else sniff(data)
    if fmt is WireFormat.arrow:
        return decode(data)
    return decode_json(data, dead_letter=dead_letter, source=source)


def sniff(data: bytes) -> WireFormat:
    """Arrow or JSON by the first bytes (JSON when unsure: its error message is the clearer)."""
    if data.startswith(_ARROW_MAGIC):
        return WireFormat.arrow
    return WireFormat.json


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"message is not UTF-8 JSON: {exc}") from None


def decode_json(data: bytes, *, dead_letter: DeadLetterSink | None, source: str) -> pa.Table:
    """The valid events of a JSON message: one event object or an array of them.

    Raises:
        InvalidInputError: not JSON, or JSON that is neither an object nor an array.
    """
    text = _text(data)
    try:
        value: Any = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidInputError(f"message is not JSON: {exc}") from None
    if isinstance(value, dict):
        records: list[tuple[int | None, Any]] = [(None, value)]
    elif isinstance(value, list):
        records = list(enumerate(value, start=1))
    else:
        raise InvalidInputError(
            f"message is JSON {json_type(value)}: expected an event object or an array of them"
        )
    rejects = Rejects(dead_letter, source, unit="item")
    table = check_records(records, rejects)
    rejects.end_batch()
    return table


def _json_lines(data: bytes, *, dead_letter: DeadLetterSink | None, source: str) -> pa.Table:
    lines = [
        (number, line)
        for number, line in enumerate(_text(data).splitlines(), start=1)
        if line.strip()
    ]
    rejects = Rejects(dead_letter, source, unit="line")
    table = check_records(lines, rejects)
    rejects.end_batch()
    return table
