"""POST /v1/agents/{role}/messages: one agent turn over HTTP, through the control plane."""

from __future__ import annotations

from typing import Any

import pytest

from tailguard.roles.loop import AgentReply

from .conftest import ChatApi

DRIVER = "/v1/agents/driver/messages"
RECRUITER = "/v1/agents/recruiter/messages"


def _run(api: ChatApi, run_id: str) -> dict[str, Any]:
    record = api.stack.ledger.latest("run", run_id)
    assert record is not None
    return dict(record.fields)


def test_driver_turn_answers_with_reply_and_tool_activity(api: ChatApi) -> None:
    """A driver's question runs find_matches and returns the reply in the chat CLI's shape."""
    response = api.post(
        DRIVER,
        {"message": "Find carriers near 75001 paying over $0.55 CPM", "user_id": "drv-0001"},
    )
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["role"] == "driver"
    assert reply["status"] == "completed"
    assert reply["answer"]
    (call,) = reply["tool_calls"]
    assert (call["tool"], call["outcome"]) == ("find_matches", "executed")
    assert call["arguments"] == {"zip": "75001", "minCpm": 0.55}
    run = _run(api, reply["run_id"])
    assert (run["role"], run["initiator_id"], run["status"]) == ("driver", "drv-0001", "completed")
    step = api.stack.ledger.latest("step", call["step_id"]).fields
    assert step["status"] == "executed"
    # The same turn through the library call `tailguard chat` makes gives the same reply.
    direct: AgentReply = api.stack.agent.send(
        role="driver", user_id="drv-0001", message="Find carriers near 75001 paying over $0.55 CPM"
    )
    expected = direct.to_dict()
    assert set(reply) == set(expected)
    assert reply["answer"] == expected["answer"]
    assert [(c["tool"], c["arguments"], c["outcome"]) for c in reply["tool_calls"]] == [
        (c["tool"], c["arguments"], c["outcome"]) for c in expected["tool_calls"]
    ]


def test_gated_turn_pauses_then_resumes_after_inbox_approval(api: ChatApi) -> None:
    """send_message pauses the run at its gate; the inbox approves and runs it; resume finishes."""
    response = api.post(
        RECRUITER, {"message": "Text John: are you free Tuesday?", "user_id": "rec-001"}
    )
    assert response.status_code == 200, response.text
    paused = response.json()
    assert paused["status"] == "waiting_approval"
    (gate,) = paused["gates"]
    assert (gate["tool"], gate["risk_level"]) == ("send_message", "execute_high")
    assert paused["gate_ids"] == [gate["gate_id"]]
    assert _run(api, paused["run_id"])["status"] == "waiting_approval"

    decided = api.post(f"/v1/approvals/{gate['gate_id']}", {"decision": "approve"}, as_="carol")
    assert decided.status_code == 200, decided.text
    assert decided.json()["resumed"]["outcome"] == "executed"

    resumed = api.post(f"/v1/agents/runs/{paused['run_id']}/resume", None)
    assert resumed.status_code == 200, resumed.text
    done = resumed.json()
    assert done["status"] == "completed"
    assert [(c["tool"], c["outcome"]) for c in done["tool_calls"]] == [("send_message", "executed")]
    run = _run(api, paused["run_id"])
    assert (run["status"], run["initiator_id"]) == ("completed", "rec-001")
    gate_record = api.stack.ledger.latest("gate", gate["gate_id"]).fields
    assert (gate_record["decision"], gate_record["decided_by"]) == ("approved", "carol")
    sent = [
        r.fields
        for r in api.stack.ledger.records(kind="step", run_id=paused["run_id"])
        if r.fields["tool_name"] == "send_message" and r.fields["status"] == "executed"
    ]
    assert len(sent) == 1  # the inbox ran it; the resume replayed it


def test_rejected_gate_is_reported_after_resume(api: ChatApi) -> None:
    """A rejection in the inbox reaches the agent as a call that did not run."""
    paused = api.post(
        RECRUITER, {"message": "Text John: call me back", "user_id": "rec-001"}
    ).json()
    gate_id = paused["gate_ids"][0]
    rejected = api.post(
        f"/v1/approvals/{gate_id}", {"decision": "reject", "reason": "wrong tone"}, as_="carol"
    )
    assert rejected.status_code == 200, rejected.text
    done = api.post(f"/v1/agents/runs/{paused['run_id']}/resume", None).json()
    assert done["status"] == "completed"
    assert [(c["tool"], c["outcome"]) for c in done["tool_calls"]] == [("send_message", "rejected")]


def test_waiting_conversation_refuses_another_message(api: ChatApi) -> None:
    """A conversation whose run waits at a gate takes no new message until it is decided (409)."""
    paused = api.post(RECRUITER, {"message": "Text John: hello", "user_id": "rec-001"}).json()
    again = api.post(
        RECRUITER,
        {
            "message": "Show my pipeline",
            "user_id": "rec-001",
            "conversation_id": paused["conversation_id"],
        },
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("path", "body", "as_", "status", "code"),
    [
        (DRIVER, {"message": "hi", "user_id": "drv-0001"}, "", 401, "unauthenticated"),
        (DRIVER, {"message": "hi", "user_id": "drv-0001"}, "victor", 403, "permission_denied"),
        ("/v1/agents/pilot/messages", {"message": "hi"}, "olga", 404, "not_found"),
        (DRIVER, {"message": "", "user_id": "drv-0001"}, "olga", 422, "invalid_input"),
        (DRIVER, {"message": "hi", "extra": 1}, "olga", 422, "invalid_input"),
        (DRIVER, {"message": "hi", "user_id": "rec-001"}, "olga", 403, "permission_denied"),
        (
            DRIVER,
            {"message": "hi", "user_id": "drv-0001", "provider": "acme:x"},
            "olga",
            422,
            "invalid_input",
        ),
    ],
    ids=["no-key", "viewer", "unknown-role", "empty", "extra-field", "wrong-user", "bad-provider"],
)
def test_refusals(
    api: ChatApi, path: str, body: dict[str, Any], as_: str, status: int, code: str
) -> None:
    """Bad callers and bad bodies are refused in the service's error shape; no run starts."""
    response = api.post(path, body, as_=as_)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    if "chat_stack" in api.app.state.tailguard.extras:
        assert list(api.stack.ledger.records(kind="run")) == []


def test_explicit_scripted_provider_runs_the_same_turn(api: ChatApi) -> None:
    """provider=scripted picks the offline provider for this message."""
    response = api.post(
        "/v1/agents/admin/messages",
        {"message": "Check system health", "user_id": "admin", "provider": "scripted"},
    )
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["status"] == "completed"
    assert [c["tool"] for c in reply["tool_calls"]] == ["get_system_health"]


def test_stopping_the_app_closes_what_the_chat_modules_opened(tmp_path: Any) -> None:
    """The app's shutdown releases the chat stack and the recruiting store (once each)."""
    from fastapi.testclient import TestClient

    from _service_fixtures import SERVICE_NOW
    from tailguard.clock import FakeClock
    from tailguard.service import ServiceSettings, create_app
    from tailguard.service.chatstack import STACK_KEY, chat_stack

    settings = ServiceSettings(
        ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        pulse_url=str(tmp_path / "pulse.db"),
        clock=FakeClock(SERVICE_NOW),
    )
    app = create_app(settings)
    state = app.state.tailguard
    with TestClient(app):
        chat_stack(state)
        assert STACK_KEY in state.extras
        assert len(state.closers) == 2  # the chat module's store and the stack
    assert state.closers == []
    assert not state.extras  # the stack and the store were popped and closed
