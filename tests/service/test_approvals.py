"""Deciding gates over HTTP: approve resumes the call, reject never runs it, and no one
decides a gate of a run they started."""

from __future__ import annotations

from typing import Any

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


def _decide_many(service: Service, who: str, *decisions: Any) -> tuple[int, Any]:
    response = service.client.post(
        "/v1/approvals", json={"decisions": list(decisions)}, headers=service.h(who)
    )
    return response.status_code, response.json()


def _approvals_counted() -> dict[str, float]:
    """``tailguard_approvals_total`` by decision (process-wide: compare before and after)."""
    from tailguard.service import metrics

    return {
        d: metrics.REGISTRY.get_sample_value("tailguard_approvals_total", {"decision": d}) or 0.0
        for d in ("approve", "reject", "edit")
    }


def test_decide_many_answers_each_decision_as_the_single_route_would(service: Service) -> None:
    """One batch: approved (and resumed), rejected, edited, refused items each say why with
    the single route's code; refused items record nothing, the others are recorded."""
    approve = service.gated_call("olga", account="acc-1")
    reject = service.gated_call("olga", account="acc-2")
    edit = service.gated_call("olga", account="acc-3")
    bad_edit = service.gated_call("olga", account="acc-4")
    done = service.gated_call("olga", account="acc-5")
    own = service.gated_call("alice", account="acc-6")
    status, body = _decide(service, "bob", done["gate_id"], decision="reject")
    assert status == 200, body
    before = _approvals_counted()

    status, body = _decide_many(
        service,
        "alice",
        {"gate_id": approve["gate_id"], "decision": "approve", "reason": "fine"},
        {"gate_id": reject["gate_id"], "decision": "reject", "reason": "no"},
        {"gate_id": edit["gate_id"], "decision": "edit", "args": {"account_id": "acc-9"}},
        {"gate_id": bad_edit["gate_id"], "decision": "edit", "args": {"account_id": 5}},
        {"gate_id": done["gate_id"], "decision": "approve"},
        {"gate_id": "gate_missing", "decision": "approve"},
        {"gate_id": own["gate_id"], "decision": "approve"},
        {"gate_id": approve["gate_id"], "decision": "reject"},
    )
    assert status == 200, body
    results = body["results"]
    assert [r["gate_id"] for r in results] == [
        approve["gate_id"],
        reject["gate_id"],
        edit["gate_id"],
        bad_edit["gate_id"],
        done["gate_id"],
        "gate_missing",
        own["gate_id"],
        approve["gate_id"],
    ]
    approved, rejected, edited = results[:3]
    assert (approved["decision"], approved["decided_by"], approved["reason"]) == (
        "approved",
        "alice",
        "fine",
    )
    assert approved["resumed"]["outcome"] == "executed"
    assert approved["resumed"]["value"] == {"closed": "acc-1"}
    assert (rejected["decision"], rejected["resumed"]) == ("rejected", None)
    assert (edited["decision"], edited["edited"]) == ("approved", True)
    assert edited["resumed"]["value"] == {"closed": "acc-9"}
    refused = [(r["error"]["code"], "decision" in r) for r in results[3:]]
    assert refused == [
        ("invalid_input", False),  # the single route: 422
        ("conflict", False),  # 409: already rejected by bob
        ("not_found", False),  # 404
        ("permission_denied", False),  # 403: alice started that run
        ("conflict", False),  # 409: decided earlier in this batch
    ]
    assert "started this run" in results[6]["error"]["message"]
    # The single route answers the same requests with those codes as statuses.
    sent = [
        (bad_edit["gate_id"], {"decision": "edit", "args": {"account_id": 5}}, 422),
        (done["gate_id"], {"decision": "approve"}, 409),
        ("gate_missing", {"decision": "approve"}, 404),
        (own["gate_id"], {"decision": "approve"}, 403),
        (approve["gate_id"], {"decision": "reject"}, 409),
    ]
    for item, (gate, decision, single_status) in zip(results[3:], sent, strict=True):
        status, single = _decide(service, "alice", gate, **decision)
        assert status == single_status, single
        assert single["error"]["code"] == item["error"]["code"]

    # The approved calls ran once each, the edited one with the edited arguments.
    assert service.calls.of(GATED) == [
        {"account_id": "acc-1", "note": "churned"},
        {"account_id": "acc-9"},
    ]
    gates = {
        g["gate_id"]: g
        for g in service.client.get("/v1/gates", headers=service.h("vic")).json()["items"]
    }
    assert (gates[approve["gate_id"]]["decision"], gates[approve["gate_id"]]["decided_by"]) == (
        "approved",
        "alice",
    )
    detail = service.client.get(f"/v1/runs/{reject['run_id']}", headers=service.h("vic")).json()
    assert [(g["decided_by"], g["decision_reason"]) for g in detail["gates"]] == [("alice", "no")]
    assert gates[done["gate_id"]]["decided_by"] == "bob"
    assert gates[own["gate_id"]]["decision"] == "pending"
    after = _approvals_counted()
    # One count per recorded decision, none for a refused one.
    assert {d: after[d] - before[d] for d in after} == {"approve": 1.0, "reject": 1.0, "edit": 1.0}
    assert service.state.ledger.verify().ok


def test_decide_many_matches_one_by_one_decisions_in_the_ledger(service: Service) -> None:
    """A batch leaves the gates, steps and runs as single decisions leave them."""
    batch = [service.gated_call("olga", account=f"acc-{i}") for i in range(3)]
    single = [service.gated_call("olga", account=f"acc-{i}") for i in range(3)]
    decisions = ({"decision": "approve"}, {"decision": "reject"}, {"decision": "approve"})
    status, body = _decide_many(
        service,
        "alice",
        *({"gate_id": s["gate_id"], **d} for s, d in zip(batch, decisions, strict=True)),
    )
    assert status == 200, body
    for step, decision in zip(single, decisions, strict=True):
        assert _decide(service, "alice", step["gate_id"], **decision)[0] == 200

    def shape(step: dict[str, Any]) -> tuple[Any, ...]:
        detail = service.client.get(f"/v1/runs/{step['run_id']}", headers=service.h("vic"))
        run = detail.json()
        return (
            run["run"]["status"],
            run["run"]["steps_count"],
            [(g["decision"], g["decided_by"]) for g in run["gates"]],
            [(s["status"], s["result_summary"]) for s in run["steps"]],
        )

    assert [shape(s) for s in batch] == [shape(s) for s in single]
    single_out = [
        {k: v for k, v in item.items() if k not in ("gate_id", "run_id", "step_id")}
        for item in body["results"]
    ]
    assert single_out[1] == {
        "tool_name": GATED,
        "decision": "rejected",
        "decided_by": "alice",
        "decided_at": single_out[1]["decided_at"],
        "reason": None,
        "edited": False,
        "resumed": None,
        "resume_error": None,
        "resumes_elsewhere": False,
    }
    assert service.state.ledger.verify().ok


def test_decide_many_times_out_gates_past_their_deadline(service: Service) -> None:
    """A gate past its timeout is a conflict item and never runs; the rest are decided."""
    stale = service.gated_call("olga", account="acc-old")
    service.clock.advance(3000)
    fresh = service.gated_call("olga", account="acc-new")
    service.clock.advance(700)
    status, body = _decide_many(
        service,
        "bob",
        {"gate_id": stale["gate_id"], "decision": "approve"},
        {"gate_id": fresh["gate_id"], "decision": "approve"},
    )
    assert status == 200, body
    timed_out, approved = body["results"]
    assert timed_out["error"]["code"] == "conflict"
    assert "timed out" in timed_out["error"]["message"]
    assert approved["resumed"]["outcome"] == "executed"
    assert service.calls.of(GATED) == [{"account_id": "acc-new", "note": "churned"}]
    gates = service.client.get(
        "/v1/gates", params={"decision": "timeout"}, headers=service.h("vic")
    ).json()["items"]
    assert [g["gate_id"] for g in gates] == [stale["gate_id"]]
    assert service.state.ledger.verify().ok


def test_decide_many_refuses_bad_bodies_whole(service: Service) -> None:
    """A body that breaks the schema is a 422 with pydantic's details; nothing is decided."""
    step = service.gated_call("olga")
    gate = step["gate_id"]
    too_many = [{"gate_id": f"gate_{i}", "decision": "approve"} for i in range(501)]
    bodies: list[object] = [
        {"decisions": []},
        {"decisions": too_many},
        {"decisions": [{"gate_id": gate, "decision": "maybe"}]},
        {"decisions": [{"gate_id": gate, "decision": "edit"}]},
        {"decisions": [{"decision": "approve"}]},
        {"decisions": [{"gate_id": gate, "decision": "approve", "args": {"account_id": "x"}}]},
        {"decisions": [{"gate_id": gate, "decision": "approve"}], "extra": 1},
        [{"gate_id": gate, "decision": "approve"}],
        {},
    ]
    for sent in bodies:
        response = service.client.post("/v1/approvals", json=sent, headers=service.h("alice"))
        assert response.status_code == 422, (sent, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["details"]["errors"], sent
    assert [
        p["gate_id"]
        for p in service.client.get("/v1/approvals", headers=service.h("alice")).json()["items"]
    ] == [gate]
    # 500 is the limit, not beyond it: every item is answered.
    status, body = _decide_many(
        service, "alice", *too_many[:499], {"gate_id": gate, "decision": "reject"}
    )
    assert status == 200, body
    assert len(body["results"]) == 500
    assert {r["error"]["code"] for r in body["results"][:499]} == {"not_found"}
    assert body["results"][499]["decision"] == "rejected"


def test_decide_many_needs_the_approver_role(service: Service) -> None:
    """Viewers and operators get 403 and decide nothing; no key gets 401."""
    step = service.gated_call("olga")
    item = {"gate_id": step["gate_id"], "decision": "approve"}
    for who in ("vic", "olga"):
        status, body = _decide_many(service, who, item)
        assert status == 403, body
        assert body["error"]["code"] == "permission_denied"
    response = service.client.post("/v1/approvals", json={"decisions": [item]})
    assert response.status_code == 401
    assert service.calls.of(GATED) == []
    status, body = _decide_many(service, "root", item)
    assert status == 200, body
    assert body["results"][0]["decided_by"] == "root"
