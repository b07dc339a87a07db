"""Strings holding NUL (``\\x00``) are refused with 422 before any query, on every backend.

PostgreSQL text cannot store NUL; without the edge check these requests became 5xx there.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tailguard.service.nul import find_nul

from .conftest import GATED, Service


def _assert_nul_refused(response: Any, loc: list[Any]) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "invalid_input"
    assert "NUL" in body["error"]["message"]
    (error,) = body["error"]["details"]["errors"]
    assert error["type"] == "string_nul"
    assert error["loc"] == loc


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("/v1/runs", {"role": "ops\x00"}, ["query", "role"]),
        ("/v1/runs", {"initiator_id": "\x00"}, ["query", "initiator_id"]),
        ("/v1/steps", {"run_id": "r\x00x"}, ["query", "run_id"]),
        ("/v1/gates", {"run_id": "\x00"}, ["query", "run_id"]),
        ("/v1/runs", {"cursor": "abc\x00"}, ["query", "cursor"]),
        ("/v1/runs/run%00x", None, ["path"]),
        ("/v1/approvals/gate%00", None, ["path"]),
    ],
)
def test_nul_in_query_or_path_is_422(
    service: Service, path: str, params: dict[str, str] | None, loc: list[Any]
) -> None:
    """A NUL in a query or path parameter is invalid input, not a database error."""
    response = service.client.get(path, params=params, headers=service.h("vic"))
    _assert_nul_refused(response, loc)


def test_nul_in_json_bodies_is_422(service: Service) -> None:
    """A NUL in any string of a JSON body (nested, or an object key) is refused; nothing runs."""
    h = service.h("olga")
    _assert_nul_refused(
        service.client.post("/v1/runs", json={"role": "ops\x00"}, headers=h), ["body", "role"]
    )
    run = service.client.post("/v1/runs", json={"role": "ops"}, headers=h)
    assert run.status_code == 201, run.text
    run_id = run.json()["run_id"]
    step = service.client.post(
        f"/v1/runs/{run_id}/steps",
        json={"tool_name": GATED, "args": {"account_id": "acc\x001"}},
        headers=h,
    )
    _assert_nul_refused(step, ["body", "args", "account_id"])
    step = service.client.post(
        f"/v1/runs/{run_id}/steps",
        json={"tool_name": GATED, "args": {"account_id": "a", "no\x00te": "x"}},
        headers=h,
    )
    _assert_nul_refused(step, ["body", "args", "no\x00te"])
    assert service.calls.of(GATED) == []
    finish = service.client.post(
        f"/v1/runs/{run_id}/finish",
        json={"status": "completed", "user_feedback": "fine\x00"},
        headers=h,
    )
    _assert_nul_refused(finish, ["body", "user_feedback"])
    bare = service.client.post(
        "/v1/runs",
        content=b'{"role": "ops", "goal_text": "x\\u0000"}',
        headers=h,  # no content type: FastAPI still reads it as JSON
    )
    _assert_nul_refused(bare, ["body", "goal_text"])
    # The same service still answers clean requests normally afterwards.
    assert service.client.get(f"/v1/runs/{run_id}", headers=h).status_code == 200


def test_nul_without_a_key_is_still_401(service: Service) -> None:
    """Nothing under /v1 answers without a key, not even a NUL refusal."""
    response = service.client.get("/v1/runs", params={"role": "\x00"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_clean_bodies_pass_through_unchanged(service: Service) -> None:
    """The body the middleware read is replayed to the handler intact (escaped text too)."""
    h = service.h("olga")
    goal = "a literal backslash-u0000: \\u0000 and unicode é"
    run = service.client.post("/v1/runs", json={"role": "ops", "goal_text": goal}, headers=h)
    assert run.status_code == 201, run.text
    assert run.json()["goal_text"] == goal


def test_the_schema_documents_422_on_every_v1_operation(service: Service) -> None:
    """Every /v1 operation documents the 422 it can give, with the error shape."""
    schema = service.client.get("/openapi.json").json()
    ref = "#/components/schemas/ErrorResponse"
    for path, operations in schema["paths"].items():
        if not path.startswith("/v1"):
            continue
        for method, operation in operations.items():
            answer = operation["responses"]["422"]
            assert answer["content"]["application/json"]["schema"]["$ref"] == ref, (path, method)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings(v)]]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@given(_json)
def test_find_nul_points_at_a_string_holding_nul(value: Any) -> None:
    """find_nul finds a location exactly when some string or key holds NUL, and it points at one."""
    found = find_nul(value)
    assert (found is not None) == any("\x00" in s for s in _strings(value))
    if found is None:
        return
    node = value
    for part in found[:-1]:
        node = node[part]
    if not found:
        assert isinstance(node, str)
        assert "\x00" in node
        return
    last = found[-1]
    if isinstance(node, dict) and isinstance(last, str) and "\x00" in last:
        assert last in node
    else:
        assert isinstance(node[last], str)
        assert "\x00" in node[last]
