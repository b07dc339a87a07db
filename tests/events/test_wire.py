"""The bus message codec: JSON parsing properties (hypothesis), sniffing, round trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailguard.errors import InvalidInputError
from tailguard.events import DeadLetterSink, synthetic_events, validate_records
from tailguard.events.bus.wire import (
    WireFormat,
    decode_json,
    decode_message,
    encode_message,
    parse_format,
    sniff,
)

from ._helpers import VALID, event

_json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_json_values = st.recursive(
    _json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_valid_events = st.builds(
    lambda t, i, area, extra: event(t, f"E-{i}", area_id=area, **extra),
    st.sampled_from(sorted(VALID)),
    st.integers(0, 10**9),
    st.from_regex(r"PA-[0-9]{4}", fullmatch=True),
    st.dictionaries(st.sampled_from(["note", "source", "x_1"]), _json_scalars, max_size=2),
)
# An event with one field broken or removed.
_broken_events = st.builds(
    lambda e, field, value: (
        {**e, field: value} if value is not ... else {k: v for k, v in e.items() if k != field}
    ),
    _valid_events,
    st.sampled_from(["event_id", "type", "ts", "area_id"]),
    st.sampled_from([..., None, 12, "not a time", [1]]),
)
_PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _sink(tmp: Path, name: str) -> DeadLetterSink:
    return DeadLetterSink(tmp / f"{name}.jsonl")


@_PROPS
@given(items=st.lists(_valid_events | _broken_events | _json_values, max_size=12))
def test_every_item_of_an_array_is_either_an_event_or_a_dead_letter(
    tmp_path_factory: pytest.TempPathFactory, items: list[Any]
) -> None:
    """Nothing is lost or invented: rows plus dead letters equal the array's items."""
    tmp = tmp_path_factory.mktemp("wire")
    with _sink(tmp, "dl") as sink:
        table = decode_json(json.dumps(items).encode(), dead_letter=sink, source="m")
        assert table.num_rows + sink.count == len(items)


@_PROPS
@given(items=st.lists(_valid_events | _broken_events, max_size=12))
def test_an_array_is_read_exactly_as_the_same_events_in_a_file(
    tmp_path_factory: pytest.TempPathFactory, items: list[dict[str, Any]]
) -> None:
    """The bus parser keeps and rejects the same events as the JSON Lines validator."""
    tmp = tmp_path_factory.mktemp("wire")
    with _sink(tmp, "bus") as bus_sink, _sink(tmp, "file") as file_sink:
        via_bus = decode_json(json.dumps(items).encode(), dead_letter=bus_sink, source="m")
        via_file = validate_records(
            [(i, json.dumps(e)) for i, e in enumerate(items, 1)], source="f", dead_letter=file_sink
        )
        assert via_bus.equals(via_file)
        assert bus_sink.count == file_sink.count


@_PROPS
@given(item=_valid_events)
def test_one_object_is_the_array_of_one(item: dict[str, Any]) -> None:
    """A message holding one event object reads as an array holding it."""
    alone = decode_json(json.dumps(item).encode(), dead_letter=None, source="m")
    listed = decode_json(json.dumps([item]).encode(), dead_letter=None, source="m")
    assert alone.num_rows == 1
    assert alone.equals(listed)


@_PROPS
@given(data=st.binary(max_size=64) | _json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_give_a_table_or_an_invalid_input_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    """Garbage never escapes as another exception (the bus dead-letters InvalidInputError)."""
    tmp = tmp_path_factory.mktemp("wire")
    with _sink(tmp, "dl") as sink:
        try:
            table = decode_message(
                data, content_type=None, setting=WireFormat.auto, dead_letter=sink, source="m"
            )
        except InvalidInputError:
            return
        assert isinstance(table, pa.Table)


@pytest.mark.parametrize("fmt", [WireFormat.json, WireFormat.arrow, WireFormat.auto])
def test_encode_then_decode_gives_the_events_back(fmt: WireFormat) -> None:
    """Both wire formats round-trip a batch, extra fields and nulls included."""
    sent = synthetic_events(300, seed=5, extra_every=4)
    body, content_type = encode_message(sent, fmt)
    assert sniff(body) is (WireFormat.json if fmt is WireFormat.json else WireFormat.arrow)
    for declared in (content_type, None):
        got = decode_message(
            body, content_type=declared, setting=WireFormat.auto, dead_letter=None, source="m"
        )
        assert got.to_pylist() == sent.to_pylist()


def test_without_a_dead_letter_a_bad_event_raises() -> None:
    """Rejects never vanish: with no sink, a bad event makes the message fail."""
    with pytest.raises(InvalidInputError, match="item 1"):
        decode_json(json.dumps([event("cx.survey", nps=99)]).encode(), dead_letter=None, source="m")


def test_parse_format_names_the_choices() -> None:
    """An unknown format is refused naming the three that exist."""
    assert parse_format(" JSON ") is WireFormat.json
    with pytest.raises(InvalidInputError, match="auto, arrow or json"):
        parse_format("avro")
