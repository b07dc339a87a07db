"""Rollback by people over HTTP and the CLI: a gated request, undone once another approves."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tailguard.cli import main
from tailguard.control import Policy, RiskLevel, Tool, ToolContext
from tailguard.ledger.kpis import control_plane_kpis

from .conftest import Service

FLAG = "set_flag"
UNDO = "clear_flag"


def _reversible(service: Service) -> list[str]:
    """Register a reversible tool and its compensator in the running service; returns the log."""
    log: list[str] = []
    schema = {
        "type": "object",
        "properties": {"flag": {"type": "string"}},
        "required": ["flag"],
        "additionalProperties": False,
    }

    def set_flag(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        log.append(f"set:{args['flag']}")
        return {"set": args["flag"]}

    def clear_flag(args: Mapping[str, Any], ctx: ToolContext) -> Any:
        log.append(f"clear:{args['flag']}")
        return {"cleared": args["flag"]}

    registry = service.state.registry
    registry.register(
        Tool(
            name=FLAG,
            description="Set a flag.",
            parameters=schema,
            handler=set_flag,
            policy=Policy(risk_level=RiskLevel.EXECUTE_LOW, rollback_strategy=UNDO),
        )
    )
    registry.register(
        Tool(
            name=UNDO,
            description="Clear a flag.",
            parameters=schema,
            handler=clear_flag,
            policy=Policy(risk_level=RiskLevel.EXECUTE_LOW),
        )
    )
    return log


def _executed_flag(service: Service) -> dict[str, Any]:
    run = service.client.post("/v1/runs", json={"role": "ops"}, headers=service.h("olga"))
    step = service.client.post(
        f"/v1/runs/{run.json()['run_id']}/steps",
        json={"tool_name": FLAG, "args": {"flag": "promo"}},
        headers=service.h("olga"),
    )
    assert step.status_code == 200, step.text
    body: dict[str, Any] = step.json()
    assert body["outcome"] == "executed"
    return body


def test_a_rollback_request_waits_for_another_person_then_undoes_the_step(
    service: Service,
) -> None:
    """POST /v1/steps/{id}/rollback opens a gate; the requester cannot approve it; another
    approver's approval runs the compensator once; the step is rolled_back and counted."""
    log = _reversible(service)
    step = _executed_flag(service)
    asked = service.client.post(
        f"/v1/steps/{step['step_id']}/rollback",
        json={"reason": "set by mistake"},
        headers=service.h("olga"),
    )
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["outcome"] == "pending_approval"
    assert body["tool_name"] == "rollback_step"
    assert log == ["set:promo"]
    inbox = service.client.get("/v1/approvals", headers=service.h("alice")).json()["items"]
    assert [c["gate_id"] for c in inbox] == [body["gate_id"]]
    assert inbox[0]["audit_args"] == {"step_id": step["step_id"], "reason": "set by mistake"}
    decided = service.client.post(
        f"/v1/approvals/{body['gate_id']}",
        json={"decision": "approve", "reason": "ok"},
        headers=service.h("alice"),
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["resumed"]["outcome"] == "executed"
    assert log == ["set:promo", "clear:promo"]
    steps = service.client.get(
        "/v1/steps", params={"run_id": step["run_id"]}, headers=service.h("vic")
    ).json()["items"]
    assert [s["status"] for s in steps if s["step_id"] == step["step_id"]] == ["rolled_back"]
    kpis = control_plane_kpis(service.state.ledger)
    assert kpis["per_tool"][FLAG]["rollback_rate"] == 1.0
    again = service.client.post(
        f"/v1/steps/{step['step_id']}/rollback", json={}, headers=service.h("olga")
    )
    assert again.status_code == 409


def test_rollback_requests_that_cannot_be_undone_are_refused(service: Service) -> None:
    """Unknown step 404; a tool without a rollback strategy 400; a viewer 403; bad body 422."""
    _reversible(service)
    assert (
        service.client.post(
            "/v1/steps/step-nope/rollback", json={}, headers=service.h("olga")
        ).status_code
        == 404
    )
    run = service.client.post("/v1/runs", json={"role": "ops"}, headers=service.h("olga"))
    read = service.client.post(
        f"/v1/runs/{run.json()['run_id']}/steps",
        json={"tool_name": "lookup_account", "args": {"account_id": "a"}},
        headers=service.h("olga"),
    ).json()
    refused = service.client.post(
        f"/v1/steps/{read['step_id']}/rollback", json={}, headers=service.h("olga")
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "policy_error"
    step = _executed_flag(service)
    url = f"/v1/steps/{step['step_id']}/rollback"
    assert service.client.post(url, json={}, headers=service.h("vic")).status_code == 403
    bad = service.client.post(url, json={"reason": "x" * 501}, headers=service.h("olga"))
    assert bad.status_code == 422


def test_the_cli_asks_for_a_rollback_that_waits_at_a_gate(
    service: Service, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """tailguard ledger rollback opens the same gated request on the deployment's database
    (approvers: the key store's); an unknown step exits 2 with one line."""
    _reversible(service)
    step = _executed_flag(service)
    args = ["ledger", "rollback", step["step_id"], "--db", service.ledger_url, "--by", "olga"]
    with pytest.raises(SystemExit) as info:  # the built-in table does not know set_flag
        main(args)
    assert info.value.code == 2
    assert "no known policy" in capsys.readouterr().err
    table = tmp_path / "policies.yaml"
    table.write_text(
        f"tools:\n  {FLAG}:\n    risk_level: execute_low\n    rollback_strategy: {UNDO}\n"
    )
    with pytest.raises(SystemExit) as info:
        main([*args, "--policies", str(table), "--reason", "oops", "--format", "json"])
    assert info.value.code == 0
    body = json.loads(capsys.readouterr().out)
    assert body["outcome"] == "pending_approval"
    assert body["gate_id"]
    inbox = service.client.get("/v1/approvals", headers=service.h("alice")).json()["items"]
    assert [c["gate_id"] for c in inbox] == [body["gate_id"]]
    with pytest.raises(SystemExit) as info:
        main(["ledger", "rollback", "step-nope", "--db", service.ledger_url, "--by", "olga"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown step" in err
    assert len(err.strip().splitlines()) == 1
