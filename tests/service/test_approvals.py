"""Deciding gates over HTTP: approve resumes the call, reject never runs it, and no one
decides a gate of a run they started."""

from __future__ import annotations

from .conftest import GATED, Service


def _decide(service: Service, who: str, gate: str, **body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = service.client.post(f"/v1/approvals/{gate}", json=body, headers=service.h(who))
    return response.status_code, response.json()


def test_approve_resumes_the_gated_step(service: Service) -> None:
    """The approved call runs once; the run shows the gate decided by the approver."""
    step = service.gated_call("olga", account="acc-7")
    assert service.calls.of(GATED) == []
    inbox = service.client.get("/v1/approvals", headers=service.h("alice")).json()["items"]
    assert len(inbox) == 1
    card = inbox[0]
    assert card["gate_id"] == step["gate_id"]
    assert card["audit_args"] == {"account_id": "acc-7"}
    assert card["args"] == {"account_id": "acc-7", "note": "churned"}
    assert card["requester_id"] == "olga"
    assert card["initiator_id"] == "olga"

    status, body = _decide(service, "alice", step["gate_id"], decision="approve", reason="ok")
    assert status == 200, body
    assert body["decision"] == "approved"
    assert body["decided_by"] == "alice"
    assert body["resumed"]["outcome"] == "executed"
    assert body["resumed"]["value"] == {"closed": "acc-7"}
    assert service.calls.of(GATED) == [{"account_id": "acc-7", "note": "churned"}]

    detail = service.client.get(f"/v1/runs/{step['run_id']}", headers=service.h("vic")).json()
    assert detail["run"]["status"] == "running"
    (gate,) = detail["gates"]
    assert (gate["decision"], gate["decided_by"], gate["decision_reason"]) == (
        "approved",
        "alice",
        "ok",
    )
    (ran,) = detail["steps"]
    assert ran["status"] == "executed"
    assert ran["approval_gate_id"] == step["gate_id"]
    assert service.client.get("/v1/approvals", headers=service.h("alice")).json()["items"] == []

    again_status, again = _decide(service, "bob", step["gate_id"], decision="approve")
    assert again_status == 409
    assert again["error"]["code"] == "conflict"
    assert len(service.calls.of(GATED)) == 1


def test_reject_never_runs_the_call(service: Service) -> None:
    """A rejected gate's step is recorded rejected, with who and why."""
    step = service.gated_call("olga")
    status, body = _decide(service, "bob", step["gate_id"], decision="reject", reason="no")
    assert status == 200, body
    assert (body["decision"], body["decided_by"], body["resumed"]) == ("rejected", "bob", None)
    assert service.calls.of(GATED) == []
    gates = service.client.get(
        "/v1/gates", params={"decision": "rejected"}, headers=service.h("vic")
    ).json()["items"]
    assert [(g["gate_id"], g["decided_by"]) for g in gates] == [(step["gate_id"], "bob")]
    steps = service.client.get(
        "/v1/steps", params={"run_id": step["run_id"]}, headers=service.h("vic")
    ).json()["items"]
    assert [s["status"] for s in steps] == ["rejected"]


def test_edit_and_approve_runs_the_edited_arguments(service: Service) -> None:
    """The call runs with the approver's arguments; bad edits are refused with 422."""
    step = service.gated_call("olga", account="acc-1")
    status, body = _decide(
        service, "alice", step["gate_id"], decision="edit", args={"account_id": 5}
    )
    assert status == 422
    assert body["error"]["code"] == "invalid_input"
    status, body = _decide(service, "alice", step["gate_id"], decision="edit")
    assert status == 422
    status, body = _decide(
        service, "alice", step["gate_id"], decision="edit", args={"account_id": "acc-2"}
    )
    assert status == 200, body
    assert body["edited"] is True
    assert service.calls.of(GATED) == [{"account_id": "acc-2"}]


def test_an_approver_cannot_decide_a_gate_of_their_own_run(service: Service) -> None:
    """Separation of duties: bob starts a run and cannot approve it; alice can."""
    step = service.gated_call("bob")
    status, body = _decide(service, "bob", step["gate_id"], decision="approve")
    assert status == 403
    assert body["error"]["code"] == "permission_denied"
    assert service.calls.of(GATED) == []
    pending = service.client.get("/v1/approvals", headers=service.h("bob")).json()["items"]
    assert [p["gate_id"] for p in pending] == [step["gate_id"]]
    status, body = _decide(service, "alice", step["gate_id"], decision="approve")
    assert status == 200
    assert body["decided_by"] == "alice"


def test_viewers_see_only_audit_arguments(service: Service) -> None:
    """Full arguments are for approvers and admins; viewers get the audit fields."""
    service.gated_call("olga", account="acc-3")
    (card,) = service.client.get("/v1/approvals", headers=service.h("vic")).json()["items"]
    assert card["args"] is None
    assert card["audit_args"] == {"account_id": "acc-3"}
    (card,) = service.client.get("/v1/approvals", headers=service.h("root")).json()["items"]
    assert card["args"] == {"account_id": "acc-3", "note": "churned"}


def test_unknown_and_timed_out_gates(service: Service) -> None:
    """An unknown gate is 404; a gate past its timeout leaves the inbox and cannot be decided."""
    status, body = _decide(service, "alice", "gate_missing", decision="approve")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    step = service.gated_call("olga")
    service.clock.advance(3601)
    assert service.client.get("/v1/approvals", headers=service.h("alice")).json()["items"] == []
    status, body = _decide(service, "alice", step["gate_id"], decision="approve")
    assert status == 409
    assert service.calls.of(GATED) == []


def test_finishing_a_run_records_its_outcome(service: Service) -> None:
    """POST finish closes the run and lists its evaluated outcome."""
    run = service.client.post("/v1/runs", json={"role": "ops"}, headers=service.h("olga")).json()
    service.client.post(
        f"/v1/runs/{run['run_id']}/steps",
        json={"tool_name": "lookup_account", "args": {"account_id": "a"}},
        headers=service.h("olga"),
    )
    response = service.client.post(
        f"/v1/runs/{run['run_id']}/finish", json={"status": "completed"}, headers=service.h("olga")
    )
    assert response.status_code == 200, response.text
    outcome = response.json()
    outcomes = service.client.get("/v1/outcomes", headers=service.h("vic")).json()["items"]
    assert [o["outcome_id"] for o in outcomes] == [outcome["outcome_id"]]
    detail = service.client.get(f"/v1/runs/{run['run_id']}", headers=service.h("vic")).json()
    assert detail["run"]["status"] == "completed"
    assert detail["outcome"]["outcome_id"] == outcome["outcome_id"]


def test_approving_a_tool_this_service_does_not_hold_leaves_the_call_to_its_owner(
    service: Service,
) -> None:
    """An area agent's gate approved in the service: the decision is recorded, nothing is
    claimed here, and the agents' own control plane then runs the call exactly once."""
    from typing import Any

    from tailguard.clock import FakeClock
    from tailguard.control import ControlPlane, ToolRegistry
    from tailguard.control.policy import Policy, RiskLevel
    from tailguard.control.tools import Tool
    from tailguard.ledger import Ledger

    ran: list[dict[str, Any]] = []
    registry = ToolRegistry()
    registry.register(
        Tool(
            name="send_apology_credit",
            description="Credit a customer (the agents' tool; the service lacks it).",
            parameters={"type": "object", "properties": {"amount_usd": {"type": "number"}}},
            handler=lambda args, ctx: ran.append(dict(args)) or {"ok": True},
            policy=Policy(
                risk_level=RiskLevel.EXECUTE_HIGH, requires_approval=True, approval_timeout=3600
            ),
        )
    )
    ledger = Ledger.open(service.ledger_url, clock=FakeClock(service.clock.now()))
    try:
        agents = ControlPlane(registry, ledger, clock=service.clock, approvers=service.state.keys)
        run = agents.start_run("area_agent", "area-agent:PA-0001", "credit detractors")
        pending = agents.execute(run, "send_apology_credit", {"amount_usd": 25})
        assert pending.gate_id is not None

        status, body = _decide(service, "alice", pending.gate_id, decision="approve")
        assert status == 200, body
        assert (body["decision"], body["resumed"], body["resume_error"]) == (
            "approved",
            None,
            None,
        )
        assert body["resumes_elsewhere"] is True
        assert ran == []
        # The owner resumes the gate: the call runs once.
        resumed = agents.resume(pending.gate_id)
        assert resumed.ok
        assert ran == [{"amount_usd": 25}]
    finally:
        ledger.close()
