"""The tool-calls envelope parser: property tests over generated and arbitrary bodies."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tailguard.errors import InvalidInputError
from tailguard.service.voice import parse_envelope

from .conftest import envelope

_names = st.from_regex(r"[a-z][a-z_]{0,30}", fullmatch=True)
_ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_args = st.dictionaries(st.text(max_size=12), _json, max_size=4)


@st.composite
def _call(draw: st.DrawFn) -> tuple[dict[str, Any], str, str, dict[str, Any]]:
    call_id, name, args = draw(_ids), draw(_names), draw(_args)
    shape = draw(st.sampled_from(["nested", "nested-text", "flat", "flat-text"]))
    raw: Any = json.dumps(args) if shape.endswith("text") else args
    if shape.startswith("nested"):
        item = {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}
    else:
        item = {"id": call_id, "name": name, "arguments": raw}
    return item, call_id, name, args


@given(st.lists(_call(), min_size=1, max_size=4), st.booleans())
def test_generated_calls_parse_to_their_names_and_arguments(
    calls: list[tuple[dict[str, Any], str, str, dict[str, Any]]], nested_list: bool
) -> None:
    """Every call shape Vapi sends resolves to the same id, name and arguments."""
    body = envelope("driver_find_matches")
    message = body["message"]
    if nested_list:
        message["toolCallList"] = None
        message["toolWithToolCallList"] = [{"type": "function", "toolCall": c[0]} for c in calls]
    else:
        message["toolCallList"] = [c[0] for c in calls]
    parsed = parse_envelope(json.dumps(body).encode())
    got = [(c.id, *c.resolved()) for c in parsed.message.calls()]
    assert got == [(c[1], c[2], c[3]) for c in calls]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_invalid_input(body: bytes) -> None:
    """Any body is either a tool-calls message or an InvalidInputError, never a crash."""
    with contextlib.suppress(InvalidInputError):
        parse_envelope(body)


@given(st.data())
def test_mutated_recorded_envelopes_parse_or_raise_invalid_input(data: st.DataObject) -> None:
    """Replacing any field of a recorded delivery never escapes as another exception."""
    body = envelope("recruiter_send_message")
    node: Any = body
    while isinstance(node, dict | list) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = data.draw(st.sampled_from(keys))
        if data.draw(st.booleans()):
            node[key] = data.draw(_json)
            break
        node = node[key]
    with contextlib.suppress(InvalidInputError):
        parse_envelope(json.dumps(body).encode())
