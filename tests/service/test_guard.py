"""No 500 for anyone: credentials before the body, then bounded size and depth, UTF-8, no NUL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _service_fixtures import whole_service
from tailguard.service.guard import json_depth
from tailguard.service.voice.calls import VoiceConfig

from .conftest import Service

DEEP = b"[" * 1000 + b"]" * 1000  # 2 KB, 1,000 levels


def _post_paths(service: Service) -> list[str]:
    schema = service.client.get("/openapi.json").json()
    paths = []
    for path, ops in schema["paths"].items():
        if path.startswith("/v1") and "post" in ops:
            paths.append(
                path.replace("{run_id}", "run_x")
                .replace("{gate_id}", "gate_x")
                .replace("{role}", "recruiter")
            )
    assert len(paths) >= 6
    return paths


def test_a_deeply_nested_body_is_401_without_a_key_and_422_with_one(service: Service) -> None:
    """Every POST route: never a 500 (RecursionError), with or without a key."""
    for path in _post_paths(service):
        anon = service.client.post(path, content=DEEP, headers={"content-type": "application/json"})
        assert anon.status_code == 401, (path, anon.text)
        keyed = service.client.post(
            path, content=DEEP, headers={**service.h("root"), "content-type": "application/json"}
        )
        assert keyed.status_code == 422, (path, keyed.text)
        assert keyed.json()["error"]["details"]["errors"][0]["type"] == "json_too_deep"


def test_an_oversized_body_is_413_and_only_for_a_known_caller(service: Service) -> None:
    """The size is bounded before the body is read; no key is still 401."""
    big = json.dumps({"role": "ops", "goal_text": "x" * 2_000_000}).encode()
    anon = service.client.post("/v1/runs", content=big)
    assert anon.status_code == 401
    keyed = service.client.post(
        "/v1/runs", content=big, headers={**service.h("olga"), "content-type": "application/json"}
    )
    assert keyed.status_code == 413
    assert keyed.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "body",
    [b'{"role": "\xff\xfe"}', b"\x80", '{"role": "é"}'.encode("latin-1")],
)
def test_a_body_that_is_not_utf8_is_a_422(service: Service, body: bytes) -> None:
    """Never an undocumented 400."""
    response = service.client.post(
        "/v1/runs", content=body, headers={**service.h("olga"), "content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["errors"][0]["type"] == "body_not_utf8"


def test_a_body_within_the_bounds_still_works(service: Service) -> None:
    """Nesting up to the limit, brackets inside strings, and UTF-8 text pass the edge."""
    step = service.gated_call("olga")
    nested: Any = "deep [[[ {{{ ]]] text é"
    for _ in range(40):
        nested = [nested]
    response = service.client.post(
        f"/v1/approvals/{step['gate_id']}",
        json={"decision": "reject", "reason": json.dumps(nested)},
        headers=service.h("alice"),
    )
    assert response.status_code == 200, response.text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:é'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(value=json_values, indent=st.sampled_from([None, 1]))
def test_json_depth_counts_nesting_not_brackets_in_strings(value: Any, indent: int | None) -> None:
    """The byte scan agrees with the parsed structure for any JSON text."""
    text = json.dumps(value, indent=indent, ensure_ascii=bool(indent))
    assert json_depth(text.encode()) == _depth(value)


def test_the_optional_routers_are_guarded_too(ledger_url: str, tmp_path: Path) -> None:
    """The chat endpoint (API key) and the voice webhook (its shared secret) never answer 500."""
    config = VoiceConfig(secret="s3cret")
    with whole_service(ledger_url, tmp_path, extras={"voice_config": config}) as (app, client):
        key = app.state.tailguard.keys.create("olga", "operator")[1]
        json_type = {"content-type": "application/json"}
        chat = "/v1/agents/recruiter/messages"
        assert client.post(chat, content=DEEP, headers=json_type).status_code == 401
        keyed = client.post(
            chat, content=DEEP, headers={**json_type, "Authorization": f"Bearer {key}"}
        )
        assert keyed.status_code == 422, keyed.text
        voice = "/v1/voice/tool-calls"
        wrong = client.post(voice, content=DEEP, headers={**json_type, "X-Vapi-Secret": "no"})
        assert wrong.status_code == 401
        right = client.post(voice, content=DEEP, headers={**json_type, "X-Vapi-Secret": "s3cret"})
        assert right.status_code == 422, right.text
