"""The voice webhook with recorded Vapi tool-calls deliveries, against the real service app."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import sqlalchemy as sa

from tailguard.control import ToolContext
from tailguard.service.voice import voice_calls, voice_tool_calls

from .conftest import Voice, envelope


def _runs(voice: Voice) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for record in voice.service.stack.ledger.records(kind="run"):
        latest[record.record_id] = dict(record.fields)
    return list(latest.values())


def _direct(voice: Voice, tool: str, args: dict[str, Any], user: str, role: str) -> Any:
    registry = voice.service.stack.control.registry
    ctx = ToolContext(
        run_id="direct",
        step_id="direct",
        role=role,
        initiator_id=user,
        requester_id=user,
        idempotency_key="direct",
    )
    return registry.tool(tool).handler(registry.validate(tool, args), ctx).value


def _conversation(voice: Voice, call_id: str) -> list[Any]:
    with voice.service.engine.connect() as conn:
        conversation_id = conn.execute(
            sa.select(voice_calls.c.conversation_id).where(voice_calls.c.call_id == call_id)
        ).scalar_one()
    return voice.service.conversations.turns(conversation_id)


def test_read_call_answers_with_the_tool_result(voice: Voice) -> None:
    """A driver assistant's find_matches runs as a driver run and answers keyed by call id."""
    body = envelope("driver_find_matches")
    response = voice.post(body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["toolCallId"] for r in results] == ["call_drv_01"]
    expected = _direct(
        voice, "find_matches", {"zip": "75001", "minCpm": 0.55}, "drv-0001", "driver"
    )
    assert json.loads(results[0]["result"]) == json.loads(json.dumps(expected))
    (run,) = _runs(voice)
    assert (run["role"], run["initiator_id"], run["status"]) == ("driver", "drv-0001", "completed")
    turns = _conversation(voice, "call-7f3c2a-0001")
    spoken = [(t.message.role, t.message.text) for t in turns if t.run_id is None]
    assert spoken == [
        ("assistant", "Hi, this is the driver line. How can I help?"),
        ("user", "Find carriers near 75001 paying over 55 cents a mile."),
    ]
    tool_turns = [t for t in turns if t.run_id is not None]
    assert {t.run_id for t in tool_turns} == {run["run_id"]}
    assert [t.message.role for t in tool_turns] == ["assistant", "tool"]
    assert tool_turns[1].message.tool_call_id == "call_drv_01"


def test_retried_delivery_runs_nothing_again(voice: Voice) -> None:
    """A retry answers the same results from the dedup table; the ledger has one run."""
    body = envelope("recruiter_pipeline_and_update")
    first = voice.post(body)
    again = voice.post(body)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert [r["toolCallId"] for r in first.json()["results"]] == ["call_pipe_01", "call_upd_02"]
    runs = _runs(voice)
    assert len(runs) == 2
    assert {r["role"] for r in runs} == {"recruiter"}
    with voice.service.engine.connect() as conn:
        rows = conn.execute(sa.select(voice_tool_calls)).all()
    assert sorted((r.tool_call_id, r.deliveries, r.state) for r in rows) == [
        ("call_pipe_01", 2, "done"),
        ("call_upd_02", 2, "done"),
    ]
    # The update ran once: John is at interview, and one executed step exists for it.
    steps = [
        r.fields
        for r in voice.service.stack.ledger.records(kind="step")
        if r.fields["tool_name"] == "update_candidate_status" and r.fields["status"] == "executed"
    ]
    assert len(steps) == 1


def test_later_delivery_adds_only_new_transcript_lines(voice: Voice) -> None:
    """The cumulative transcript is stored once per line across deliveries."""
    first = envelope("driver_find_matches")
    second = copy.deepcopy(first)
    for key in ("toolCallList", "toolCalls"):
        second["message"][key][0]["id"] = "call_drv_02"
    second["message"]["toolWithToolCallList"][0]["toolCall"]["id"] = "call_drv_02"
    second["message"]["artifact"]["messages"].append(
        {"role": "user", "message": "Any with home time every week?"}
    )
    assert voice.post(first).status_code == 200
    assert voice.post(second).status_code == 200
    spoken = [t.message.text for t in _conversation(voice, "call-7f3c2a-0001") if t.run_id is None]
    assert spoken == [
        "Hi, this is the driver line. How can I help?",
        "Find carriers near 75001 paying over 55 cents a mile.",
        "Any with home time every week?",
    ]


@pytest.mark.parametrize(
    ("secret", "headers"),
    [(None, {}), ("wrong-secret", {}), (None, {"Authorization": "Bearer not-the-secret"})],
    ids=["missing", "wrong", "wrong-bearer"],
)
def test_bad_secret_is_refused(voice: Voice, secret: str | None, headers: dict[str, str]) -> None:
    """Without the shared secret the webhook answers 401 and runs nothing."""
    response = voice.post(envelope("driver_find_matches"), secret=secret, **headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert "chat_stack" not in voice.app.state.tailguard.extras  # nothing was even opened


def test_bearer_secret_is_accepted(voice: Voice) -> None:
    """Vapi's bearer-token credential carrying the shared secret is accepted too."""
    from .conftest import SECRET

    response = voice.post(
        envelope("driver_find_matches"), secret=None, Authorization=f"Bearer {SECRET}"
    )
    assert response.status_code == 200


def _mangled(name: str) -> Any:
    body = envelope("driver_find_matches")
    message = body["message"]
    if name == "not-json":
        return b'{"message": {"type": "tool-calls",'
    if name == "other-type":
        message["type"] = "status-update"
    elif name == "no-call":
        del message["call"]
    elif name == "no-tool-calls":
        message["toolCallList"] = []
        message["toolWithToolCallList"] = []
    elif name == "bad-arguments":
        message["toolCallList"][0]["function"]["arguments"] = "{not json"
    elif name == "array-arguments":
        message["toolCallList"][0]["function"]["arguments"] = [1, 2]
    return body


@pytest.mark.parametrize(
    "case",
    ["not-json", "other-type", "no-call", "no-tool-calls", "bad-arguments", "array-arguments"],
)
def test_malformed_body_is_422(voice: Voice, case: str) -> None:
    """A body that is not a tool-calls message is refused with 422 and runs nothing."""
    response = voice.post(_mangled(case))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    if "chat_stack" in voice.app.state.tailguard.extras:
        assert _runs(voice) == []


def test_unknown_assistant_is_refused(voice: Voice) -> None:
    """An assistant missing from the configuration cannot run tools (403)."""
    body = envelope("driver_find_matches")
    body["message"]["assistant"] = {"id": "asst-stranger", "name": "Stranger"}
    response = voice.post(body)
    assert response.status_code == 403
    assert _runs(voice) == []


def test_high_risk_call_answers_pending_then_completes(voice: Voice) -> None:
    """send_message answers a spoken pending message; after approval check_approval runs it."""
    response = voice.post(envelope("recruiter_send_message"))
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["toolCallId"] == "toolu_01Rc5mS3nd"
    assert "pending approval" in result["result"]
    control = voice.service.stack.control
    (gate,) = control.pending_gates()
    assert gate.tool_name == "send_message"
    assert gate.gate_id in result["result"]
    run = voice.service.stack.ledger.latest("run", gate.run_id).fields
    assert (run["role"], run["initiator_id"], run["status"]) == (
        "recruiter",
        "rec-001",
        "waiting_approval",
    )

    control.decide(gate.gate_id, "approve", "admin")
    follow = envelope("recruiter_send_message")
    follow["message"]["toolCallList"] = [
        {"id": "toolu_02Ch3ck", "name": "check_approval", "arguments": {"gate_id": gate.gate_id}}
    ]
    follow["message"]["toolWithToolCallList"] = []
    response = voice.post(follow)
    assert response.status_code == 200
    (checked,) = response.json()["results"]
    sent = json.loads(checked["result"])
    assert isinstance(sent, dict)
    run = voice.service.stack.ledger.latest("run", gate.run_id).fields
    assert run["status"] == "completed"
    step = voice.service.stack.ledger.latest("step", gate.step_id).fields
    assert (step["status"], step["approval_gate_id"]) == ("executed", gate.gate_id)
    assert voice.service.stack.ledger.verify().ok


def test_secret_is_checked_before_the_body(voice: Voice) -> None:
    """A wrong secret gets 401 even for a body that is not a tool-calls message."""
    response = voice.post({"message": {"type": "status-update"}}, secret="wrong")
    assert response.status_code == 401


def test_openapi_documents_the_envelope(voice: Voice) -> None:
    """The service's OpenAPI schema describes the webhook's body and answer."""
    schema = voice.client.get("/openapi.json").json()
    operation = schema["paths"]["/v1/voice/tool-calls"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/VapiEnvelope")
    assert "ToolCallsResponse" in schema["components"]["schemas"]
